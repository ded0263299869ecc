"""Queues that hold events the monitor could not process: encrypted, TLS only, kept 14 days."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_sqs as sqs
from constructs import Construct

RETENTION = Duration.days(14)  # the longest SQS allows: time enough to notice, fix and redrive


def durable_queue(scope: Construct, construct_id: str, *, max_message_bytes: int | None = None) -> sqs.Queue:
    return sqs.Queue(
        scope,
        construct_id,
        max_message_size_bytes=max_message_bytes,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=RETENTION,
        removal_policy=RemovalPolicy.RETAIN,
    )
