"""The table where task tokens and events meet, and where each instance's status is kept."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from lambdas.choreography import table as layout


class StateTable(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.TableV2(
            self,
            "Table",
            partition_key=dynamodb.Attribute(name=layout.PARTITION_KEY, type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=layout.SORT_KEY, type=dynamodb.AttributeType.STRING),
            billing=dynamodb.Billing.on_demand(),
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=layout.TTL_ATTRIBUTE,
            encryption=dynamodb.TableEncryptionV2.aws_managed_key(),
            # Sparse: only instance items carry a status, so listing by status reads only those; and only
            # the instances whose services acted out of order carry the deviation mark.
            global_secondary_indexes=[
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=layout.STATUS_INDEX,
                    partition_key=dynamodb.Attribute(name=layout.STATUS, type=dynamodb.AttributeType.STRING),
                    sort_key=dynamodb.Attribute(name=layout.STATUS_UPDATED_AT, type=dynamodb.AttributeType.STRING),
                ),
                dynamodb.GlobalSecondaryIndexPropsV2(
                    index_name=layout.DEVIATION_INDEX,
                    partition_key=dynamodb.Attribute(name=layout.DEVIATING, type=dynamodb.AttributeType.STRING),
                    sort_key=dynamodb.Attribute(name=layout.DEVIATING_SINCE, type=dynamodb.AttributeType.STRING),
                ),
            ],
            removal_policy=RemovalPolicy.RETAIN,
        )
