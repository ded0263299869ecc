"""Operators hear about an order before the customer does: stuck-order notices, alarms, a dashboard.

Orders completed and failed are Step Functions' own execution metrics (one execution per order), and
stuck orders are the stuck rule's own EventBridge metric: counting them from a function would cost a
transition or an invocation per order, and these are exact and free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import jsii
from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from lambdas.choreography.metrics import OUT_OF_ORDER
from lambdas.choreography.model import Choreography
from lambdas.choreography.versions import Versions
from stacks.constructs.event_bus import MAX_EVENT_AGE, RETRY_ATTEMPTS

PERIOD = Duration.minutes(5)
CLOUDWATCH = "cloudwatch.amazonaws.com"  # publishes alarm actions
EVENTBRIDGE = "events.amazonaws.com"  # publishes the stuck rule's targets
PUBLISHERS = (CLOUDWATCH, EVENTBRIDGE)


def stuck_rule_name(model: Choreography) -> str:
    return f"{model.name}-stuck-notices"  # a model name has at most 40 characters; a rule name 64


class Alerting(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        versions: Versions,
        bus: events.IEventBus,
        state_machines: Sequence[sfn.StateMachine],
        correlator: lambda_.IFunction,
        namespace: str,
        correlator_service: str,
        dead_letter_queues: Mapping[str, sqs.IQueue],
        quarantine: sqs.IQueue,
        rule_dead_letters: sqs.IQueue,
        emails: tuple[str, ...],
        out_of_order_alarm: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        model = versions.current
        # Orders on every shipped version's machine, counted together.
        self.failed = _total([m.metric_failed(period=PERIOD, statistic="Sum") for m in state_machines], "failed")
        self.succeeded = _total(
            [m.metric_succeeded(period=PERIOD, statistic="Sum") for m in state_machines], "completed"
        )
        self.topic = self._topic(model, emails)
        self.stuck_rule = events.Rule(
            self,
            "StuckRule",
            # A name of our own: the AWS/Events metrics carry the rule's name, while Ref of a rule on a
            # custom bus is "bus|rule", which no metric dimension ever equals.
            rule_name=stuck_rule_name(model),
            event_bus=bus,
            description=f"{model.name}: the monitor's {model.stuck_event} events, to the alerts topic",
            event_pattern=events.EventPattern(source=[model.monitor_source], detail_type=[model.stuck_event]),
            targets=[_TopicTarget(self.topic, rule_dead_letters)],  # a jsii interface
        )
        stuck = cloudwatch.Metric(
            namespace="AWS/Events",
            metric_name="TriggeredRules",
            dimensions_map={"EventBusName": bus.event_bus_name, "RuleName": stuck_rule_name(model)},
            statistic="Sum",
            period=PERIOD,
            label="stuck",
        )
        self.alarms = [
            self._alarm("StuckOrders", stuck, f"{model.name}: an instance outlived a milestone's SLA"),
            self._alarm(
                "QuarantinedEvents",
                quarantine.metric_number_of_messages_sent(period=PERIOD, statistic="Sum"),
                f"{model.name}: an event was not valid for the model and was quarantined",
            ),
            self._alarm(
                "CorrelatorErrors",
                correlator.metric_errors(period=PERIOD, statistic="Sum"),
                f"{model.name}: the correlator failed on an event (Lambda retries it, then dead-letters it)",
            ),
            self._alarm(
                "FailedExecutions",
                self.failed,
                f"{model.name}: an instance failed (a failure event, or a milestone that stayed stuck)",
            ),
        ]
        if out_of_order_alarm:
            out_of_order = cloudwatch.Metric(
                namespace=namespace,
                metric_name=OUT_OF_ORDER,
                dimensions_map={"service": correlator_service},  # every milestone pair together
                statistic="Sum",
                period=PERIOD,
            )
            description = f"{model.name}: a service acted before the milestone it follows (see the status answer)"
            self.alarms.append(self._alarm("ServicesOutOfOrder", out_of_order, description))
        for name, queue in dead_letter_queues.items():
            depth = queue.metric_approximate_number_of_messages_visible(period=PERIOD, statistic="Maximum")
            self.alarms.append(self._alarm(f"{name}NotEmpty", depth, f"{model.name}: {name} holds events to redrive"))
        self._allow_publishers()
        self.dashboard = self._dashboard(
            versions=versions,
            correlator=correlator,
            namespace=namespace,
            service=correlator_service,
            stuck=stuck,
        )

    def _topic(self, model: Choreography, emails: tuple[str, ...]) -> sns.Topic:
        key = kms.Key(
            self,
            "TopicKey",
            description=f"{model.name}: encrypts the alerts topic",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
        )
        # The services that publish alarms and stuck notices must be able to use the key, for this
        # account's resources only.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(service) for service in PUBLISHERS],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],  # in a key policy, "*" means this key
                conditions={"StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID}},
            )
        )
        topic = sns.Topic(self, "Topic", display_name=f"{model.name} monitor alerts", master_key=key, enforce_ssl=True)
        for address in emails:
            topic.add_subscription(subscriptions.EmailSubscription(address))
        return topic

    def _allow_publishers(self) -> None:
        """A topic policy replaces SNS's default one, so each publisher is allowed by name, and only for
        the resources of this construct: the alarms (CloudWatch) and the stuck rule (EventBridge)."""
        publishers = {
            "AlarmsPublish": (CLOUDWATCH, "ArnLike", [alarm.alarm_arn for alarm in self.alarms]),
            "StuckNoticesPublish": (EVENTBRIDGE, "ArnEquals", [self.stuck_rule.rule_arn]),
        }
        for sid, (service, operator, sources) in publishers.items():
            self.topic.add_to_resource_policy(
                iam.PolicyStatement(
                    sid=sid,
                    principals=[iam.ServicePrincipal(service)],
                    actions=["sns:Publish"],
                    resources=[self.topic.topic_arn],
                    conditions={
                        "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                        operator: {"aws:SourceArn": sources if len(sources) > 1 else sources[0]},
                    },
                )
            )

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, description: str) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=0,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        return alarm

    def _dashboard(
        self,
        *,
        versions: Versions,
        correlator: lambda_.IFunction,
        namespace: str,
        service: str,
        stuck: cloudwatch.IMetric,
    ) -> cloudwatch.Dashboard:
        model = versions.current
        # Each milestone of any shipped version once, by name (a version may rename or add milestones).
        milestones = {m.name: (version, m) for version in versions.all for m in version.milestones}

        def counted(name: str, event_type: str) -> cloudwatch.Metric:
            return cloudwatch.Metric(
                namespace=namespace,
                metric_name=name,
                dimensions_map={"service": service, "eventType": event_type},
                statistic="Sum",
                period=PERIOD,
                label=f"{event_type} {name}",
            )

        orders = [
            counted("InstancesStarted", model.start_event).with_(label="started"),
            self.succeeded,
            self.failed,
            stuck,
        ]
        settling = sorted(versions.event_names - {version.start_event for version in versions.all})
        latency = [
            cloudwatch.Metric(
                namespace=namespace,
                metric_name="MilestoneLatency",
                dimensions_map={"service": service, "milestone": milestone.name},
                statistic="p50",
                period=PERIOD,
                label=milestone.name,
            )
            for _, milestone in milestones.values()
        ]
        out_of_order = [
            cloudwatch.Metric(
                namespace=namespace,
                metric_name=OUT_OF_ORDER,
                dimensions_map={"service": service, "milestone": milestone.name, "follows": follows.name},
                statistic="Sum",
                period=PERIOD,
                label=f"{milestone.name} before {follows.name}",
            )
            for version, milestone in milestones.values()
            for follows in version.predecessors[milestone.name]
        ]
        dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=f"{model.name}-monitor")
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Orders", left=orders, width=12),
            cloudwatch.GraphWidget(title="Milestone latency (p50, s)", left=latency, width=12),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(
                title="Events accepted, by type", left=[counted("EventsAccepted", n) for n in settling], width=8
            ),
            cloudwatch.GraphWidget(
                title="Duplicate and late events",
                left=[counted("EventsDuplicate", n) for n in settling] + [counted("EventsLate", n) for n in settling],
                width=8,
            ),
            cloudwatch.GraphWidget(
                title="Correlator",
                left=[correlator.metric_invocations(period=PERIOD), correlator.metric_errors(period=PERIOD)],
                right=[correlator.metric_duration(period=PERIOD, statistic="p99")],
                width=8,
            ),
        )
        dashboard.add_widgets(
            cloudwatch.GraphWidget(title="Services out of order, by milestone pair", left=out_of_order, width=12),
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=12),
        )
        return dashboard


def _total(metrics: Sequence[cloudwatch.Metric], label: str) -> cloudwatch.IMetric:
    """One metric, or the sum of several (`label`: lower-case letters, as it names the ids): a machine
    with no execution in a period has no data point, which counts as 0 here rather than hiding the others'."""
    if len(metrics) == 1:
        return metrics[0].with_(label=label)
    # Ids of the label's own: a graph holding two totals must not see one id for two metrics.
    names = {f"{label}{position}": metric for position, metric in enumerate(metrics)}
    return cloudwatch.MathExpression(
        expression=f"SUM([{', '.join(f'FILL({name}, 0)' for name in names)}])",
        using_metrics=names,
        label=label,
        period=PERIOD,
    )


@jsii.implements(events.IRuleTarget)
class _TopicTarget:
    """The alerts topic as a rule target, without the unconditioned grant that CDK's SnsTopic target adds
    to the topic policy (the construct grants EventBridge for its own rule only). Undeliverable notices go
    to the rule dead letters, which EventBridge may write to for this rule alone."""

    def __init__(self, topic: sns.ITopic, dead_letters: sqs.IQueue) -> None:
        self.topic = topic
        self.dead_letters = dead_letters

    def bind(self, rule: events.IRule, _id: str | None = None) -> events.RuleTargetConfig:
        self.dead_letters.add_to_resource_policy(
            iam.PolicyStatement(
                principals=[iam.ServicePrincipal(EVENTBRIDGE)],
                actions=["sqs:SendMessage"],
                resources=[self.dead_letters.queue_arn],
                conditions={"ArnEquals": {"aws:SourceArn": rule.rule_arn}},
            )
        )
        return events.RuleTargetConfig(
            arn=self.topic.topic_arn,
            dead_letter_config=events.CfnRule.DeadLetterConfigProperty(arn=self.dead_letters.queue_arn),
            retry_policy=events.CfnRule.RetryPolicyProperty(
                maximum_retry_attempts=RETRY_ATTEMPTS, maximum_event_age_in_seconds=int(MAX_EVENT_AGE.to_seconds())
            ),
        )
