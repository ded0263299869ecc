"""A Lambda function of the monitor: arm64, the newest Python runtime, Powertools, its own log group and role."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from stacks.packaging import MODEL_FILE_NAME

RUNTIME = lambda_.Runtime.PYTHON_3_14  # keep in step with stacks/packaging.py PYTHON_VERSION
ARCHITECTURE = lambda_.Architecture.ARM_64  # 20 % cheaper per GB-second than x86_64


class MonitorFunction(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        handler: str,
        code: lambda_.Code,
        dependencies: lambda_.ILayerVersion,
        service: str,
        namespace: str,
        environment: dict[str, str],
        memory_mb: int = 256,
        timeout_seconds: int = 10,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = logs.LogGroup(
            self, "Logs", retention=logs.RetentionDays.ONE_MONTH, removal_policy=RemovalPolicy.DESTROY
        )
        # A role of our own instead of AWSLambdaBasicExecutionRole, which may write to any log group.
        self.role = iam.Role(self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["logs:CreateLogStream", "logs:PutLogEvents"], resources=[self.log_group.log_group_arn]
            )
        )
        self.function = lambda_.Function(
            self,
            "Function",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler,
            code=code,
            layers=[dependencies],
            role=self.role,
            memory_size=memory_mb,
            timeout=Duration.seconds(timeout_seconds),
            tracing=lambda_.Tracing.ACTIVE,
            log_group=self.log_group,
            logging_format=lambda_.LoggingFormat.JSON,
            environment={
                "POWERTOOLS_SERVICE_NAME": service,
                "POWERTOOLS_METRICS_NAMESPACE": namespace,
                "CHOREOGRAPHY_MODEL": MODEL_FILE_NAME,
                **environment,
            },
        )


def failures_to(scope: Construct, construct_id: str, function: lambda_.IFunction, queue: sqs.IQueue) -> None:
    """EventBridge invokes asynchronously: after Lambda's own two retries, a failing invocation's event
    lands in `queue` with its error (within six hours of the event)."""
    lambda_.CfnEventInvokeConfig(
        scope,
        construct_id,
        function_name=function.function_name,
        qualifier="$LATEST",
        maximum_retry_attempts=2,
        maximum_event_age_in_seconds=int(Duration.hours(6).to_seconds()),
        destination_config=lambda_.CfnEventInvokeConfig.DestinationConfigProperty(
            on_failure=lambda_.CfnEventInvokeConfig.OnFailureProperty(destination=queue.queue_arn)
        ),
    )
