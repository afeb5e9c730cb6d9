"""Each pattern's CloudWatch dashboard, read from the synthesized templates.

For every pattern construct in every stack and test case (found in the
construct tree: a construct with a ``dashboard`` attribute):

* its dashboard exists (the stacks keep the default ``dashboard=True``);
* the body (the ``Fn::Join`` resolved, references kept as ``${Ref:Id}`` /
  ``${GetAtt:Id.Attr}``) references the pattern's own queues, topics,
  functions, streams, delivery streams, clusters and instances, services,
  load balancers, distributions, web ACLs and health checks;
* every alarm of the pattern is on it, in the alarm-status widget and in an
  alarm widget of its own (where CloudWatch draws the threshold);
* every metric names the dimensions its namespace requires (the table
  below, from each service's CloudWatch metrics page).

What only a real account shows: that the graphs have data (a metric with the
right dimensions but a name CloudWatch does not publish stays empty; the
names here are those the pages below list).
"""

from __future__ import annotations

import json
import re

import aws_cdk as cdk
import pytest
from aws_cdk import aws_cloudwatch as cloudwatch

from tests.conftest import ALL_STACKS

#: namespace -> the dimension sets a metric may be published with; a widget's
#: metric must carry every dimension of one of them (more is fine: Role with
#: DBClusterIdentifier, Region with WebACL). Empty: no dimension needed.
REQUIRED_DIMENSIONS: dict[str, tuple[frozenset[str], ...]] = {
    # https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
    "AWS/SQS": (frozenset({"QueueName"}),),
    # https://docs.aws.amazon.com/sns/latest/dg/sns-monitoring-using-cloudwatch.html
    "AWS/SNS": (frozenset({"TopicName"}), frozenset({"Application", "Platform"}), frozenset({"Application"})),
    # https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html
    "AWS/Lambda": (frozenset({"FunctionName"}),),
    # https://docs.aws.amazon.com/streams/latest/dev/monitoring-with-cloudwatch.html
    "AWS/Kinesis": (frozenset({"StreamName"}),),
    # https://docs.aws.amazon.com/firehose/latest/dev/monitoring-with-cloudwatch-metrics.html
    "AWS/Firehose": (frozenset({"DeliveryStreamName"}),),
    # https://docs.aws.amazon.com/AmazonECS/latest/developerguide/available-metrics.html
    "AWS/ECS": (frozenset({"ClusterName", "ServiceName"}),),
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-ECS.html
    "ECS/ContainerInsights": (frozenset({"ClusterName", "ServiceName"}),),
    # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/dimensions.html
    # https://docs.aws.amazon.com/AmazonRDS/latest/UserGuide/dimensions.html
    # https://docs.aws.amazon.com/AmazonRDS/latest/AuroraUserGuide/rds-proxy.monitoring.html
    "AWS/RDS": (frozenset({"DBClusterIdentifier"}), frozenset({"DBInstanceIdentifier"}), frozenset({"ProxyName"})),
    # https://docs.aws.amazon.com/AmazonCloudFront/latest/DeveloperGuide/programming-cloudwatch-metrics.html
    "AWS/CloudFront": (frozenset({"DistributionId", "Region"}),),
    # https://docs.aws.amazon.com/waf/latest/developerguide/waf-metrics.html
    "AWS/WAFV2": (frozenset({"WebACL", "Rule"}),),
    # https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-cloudwatch-metrics.html
    "AWS/ApplicationELB": (frozenset({"LoadBalancer"}),),
    # https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-metrics.html
    "AWS/ApiGateway": (frozenset({"ApiId"}),),
    # https://docs.aws.amazon.com/Route53/latest/DeveloperGuide/monitoring-health-check-metrics.html
    "AWS/Route53": (frozenset({"HealthCheckId"}),),
    # Broker metrics carry Broker (RabbitMQ: the broker name; ActiveMQ: each instance <name>-1, <name>-2);
    # queue and node metrics add Queue/VirtualHost or Node to it:
    # https://docs.aws.amazon.com/amazon-mq/latest/developer-guide/amazon-mq-accessing-metrics.html
    # https://docs.aws.amazon.com/amazon-mq/latest/developer-guide/rabbitmq-logging-monitoring.html
    # https://docs.aws.amazon.com/amazon-mq/latest/developer-guide/activemq-logging-monitoring.html
    "AWS/AmazonMQ": (frozenset({"Broker"}),),
}

#: Metrics whose dimensions are stricter than the namespace's.
REQUIRED_FOR_METRIC: dict[tuple[str, str], frozenset[str]] = {
    # Per-target-group metrics (ALB page above): LoadBalancer and TargetGroup.
    ("AWS/ApplicationELB", "HealthyHostCount"): frozenset({"LoadBalancer", "TargetGroup"}),
    ("AWS/ApplicationELB", "UnHealthyHostCount"): frozenset({"LoadBalancer", "TargetGroup"}),
    # Lambda-target errors are published per target group (same page).
    ("AWS/ApplicationELB", "LambdaUserError"): frozenset({"LoadBalancer", "TargetGroup"}),
    ("AWS/ApplicationELB", "LambdaInternalError"): frozenset({"LoadBalancer", "TargetGroup"}),
    # WAF on a regional resource also needs Region (WAF page above).
}

#: The resource types a pattern's dashboard must show when the pattern creates them.
SHOWN_TYPES = {
    "AWS::SQS::Queue",
    "AWS::SNS::Topic",
    "AWS::Lambda::Function",
    "AWS::Kinesis::Stream",
    "AWS::KinesisFirehose::DeliveryStream",
    "AWS::RDS::DBCluster",
    "AWS::RDS::DBInstance",
    "AWS::RDS::DBProxy",
    "AWS::ECS::Service",
    "AWS::ElasticLoadBalancingV2::LoadBalancer",
    "AWS::CloudFront::Distribution",
    "AWS::WAFv2::WebACL",
    "AWS::Route53::HealthCheck",
}

#: (path regex below the pattern, reason) for resources of those types a dashboard does not show.
NOT_SHOWN: list[tuple[str, str]] = [
    (r"^Provider/framework-onEvent/", "the custom-resource framework runs at deploy time only"),
    (r"^PlatformApplicationHandler/", "creates the platform applications at deploy time; its failures fail the deploy"),
    (r"^ConsumersActiveFunction/", "waits for enhanced fan-out consumers at deploy time only"),
]

_REF = re.compile(r"\$\{(?:Ref:([A-Za-z0-9]+)|GetAtt:([A-Za-z0-9]+)\.[A-Za-z0-9.]+)\}")


def _render(part) -> str:
    """A string for an intrinsic inside the joined body: ``${Ref:Id}``, ``${GetAtt:Id.Attr}``, and for
    anything else (``Fn::Select`` of an ``Fn::Split``, the ALB's full name) ``${Fn::Select:...}``
    around its rendered arguments, so the references inside stay visible."""
    if isinstance(part, (str, int)):
        return str(part)
    if isinstance(part, list):
        return "|".join(_render(p) for p in part)
    if set(part) == {"Ref"}:
        return f"${{Ref:{part['Ref']}}}"
    if set(part) == {"Fn::GetAtt"}:
        logical_id, attribute = part["Fn::GetAtt"]
        return f"${{GetAtt:{logical_id}.{attribute}}}"
    (function, arguments), = part.items()
    assert function in {"Fn::Select", "Fn::Split", "Fn::Join"}, f"unexpected intrinsic in a dashboard body: {part}"
    return f"${{{function}:{_render(arguments)}}}"


def resolve_body(body) -> dict:
    """The dashboard body as JSON, references kept as placeholders."""
    if isinstance(body, str):
        return json.loads(body)
    delimiter, parts = body["Fn::Join"]
    return json.loads(delimiter.join(_render(p) for p in parts))


def _patterns(stack: cdk.Stack) -> list:
    return [c for c in stack.node.find_all() if hasattr(c, "dashboard") and hasattr(c, "alarms")]


def _logical_id(assembly, stack_id: str, construct) -> str:
    return assembly.logical_id(stack_id, construct.node.default_child.node.path)


def _metrics(body: dict):
    for widget in body["widgets"]:
        for metric in widget.get("properties", {}).get("metrics", []):
            yield widget["properties"].get("title", ""), metric


def _dimensions(metric: list) -> dict:
    names = [m for m in metric if not isinstance(m, dict)]
    return dict(zip(names[2::2], names[3::2]))


@pytest.fixture(scope="module")
def dashboards(assembly):
    """(stack, pattern path, pattern, resolved body, references) for every pattern construct."""
    found = []
    for stack_id in ALL_STACKS:
        template = assembly.template(stack_id)
        for pattern in _patterns(assembly.stacks[stack_id]):
            assert isinstance(pattern.dashboard, cloudwatch.Dashboard), f"{pattern.node.path} has no dashboard"
            logical_id = _logical_id(assembly, stack_id, pattern.dashboard)
            body = resolve_body(template["Resources"][logical_id]["Properties"]["DashboardBody"])
            refs = {a or b for a, b in _REF.findall(json.dumps(body))}
            found.append((stack_id, pattern.node.path, pattern, body, refs))
    return found


def test_every_pattern_has_a_dashboard(dashboards):
    kinds = {type(p).__name__ for _, _, p, _, _ in dashboards}
    assert kinds >= {
        "Broker", "FanOut", "QueueWorkerFleet", "StreamPipeline", "MobilePush",
        "AuroraCluster", "RdsWithReadReplicas", "RegionalOrigin", "EdgeDistribution", "MutualTlsService",
    }, kinds


def test_dashboard_shows_the_patterns_own_resources(assembly, dashboards):
    missing = []
    for stack_id, path, _, body, refs in dashboards:
        for logical_id, resource in assembly.template(stack_id)["Resources"].items():
            where = resource.get("Metadata", {}).get("aws:cdk:path", "")
            if resource["Type"] not in SHOWN_TYPES or not where.startswith(path + "/"):
                continue
            below = where[len(path) + 1:]
            if any(re.search(pattern, below) for pattern, _ in NOT_SHOWN):
                continue
            if resource["Type"] == "AWS::WAFv2::WebACL":
                # WAF names its metrics by the web ACL's visibility metric name, not its ID.
                name = resource["Properties"]["VisibilityConfig"]["MetricName"]
                if any(m[0] == "AWS/WAFV2" and _dimensions(m).get("WebACL") == name for _, m in _metrics(body)):
                    continue
            if logical_id not in refs:
                missing.append(f"{stack_id}: {where} ({resource['Type']})")
    assert not missing, "not on the pattern's dashboard:\n" + "\n".join(missing)


def test_every_alarm_is_on_its_dashboard(assembly, dashboards):
    checked = 0
    for stack_id, path, pattern, body, _ in dashboards:
        status = [w for w in body["widgets"] if w["type"] == "alarm"]
        assert len(status) == 1, f"{path}: one alarm-status widget"
        in_status = set(status[0]["properties"]["alarms"])
        alarm_widgets = {
            arn
            for w in body["widgets"]
            for arn in w.get("properties", {}).get("annotations", {}).get("alarms", [])
        }
        assert pattern.alarms, f"{path} has no alarms"
        for alarm in pattern.alarms:
            arn = f"${{GetAtt:{_logical_id(assembly, stack_id, alarm)}.Arn}}"
            assert arn in in_status, f"{alarm.node.path} not in {path}'s alarm status"
            assert arn in alarm_widgets, f"{alarm.node.path} has no alarm widget on {path}'s dashboard"
            checked += 1
        assert len(in_status) == len(pattern.alarms), f"{path}: alarms on the dashboard that are not the pattern's"
    assert checked


def test_alarm_thresholds_are_annotated(dashboards):
    """Each graph that shows an alarmed metric carries the threshold: at least one annotation per pattern,
    and every alarm's threshold value appears among the graphs' annotations."""
    for _, path, pattern, body, _ in dashboards:
        values = {
            a["value"]
            for w in body["widgets"]
            for a in w.get("properties", {}).get("annotations", {}).get("horizontal", [])
        }
        for alarm in pattern.alarms:
            threshold = cdk.Stack.of(alarm).resolve(alarm.node.default_child.threshold)
            if threshold is None:  # anomaly-detection or metric-math band: shown by its alarm widget
                continue
            assert threshold in values, f"{alarm.node.path}: threshold {threshold} not annotated on {path}"


def test_no_metric_lacks_required_dimensions(dashboards):
    checked = 0
    for _, path, _, body, _ in dashboards:
        for title, metric in _metrics(body):
            if isinstance(metric[0], dict):  # a math expression: its inputs are listed on their own
                continue
            namespace, name = metric[0], metric[1]
            assert namespace != ".", f"{path} '{title}': shorthand metrics are not used"
            present = set(_dimensions(metric))
            assert namespace in REQUIRED_DIMENSIONS, f"{path} '{title}': add {namespace} to REQUIRED_DIMENSIONS"
            options = REQUIRED_DIMENSIONS[namespace]
            assert any(o <= present for o in options), (
                f"{path} '{title}': {namespace} {name} has {sorted(present)}, needs one of {[sorted(o) for o in options]}"
            )
            needed = REQUIRED_FOR_METRIC.get((namespace, name), frozenset())
            assert needed <= present, f"{path} '{title}': {namespace} {name} needs {sorted(needed)}"
            checked += 1
    assert checked


def test_dashboards_are_unnamed(assembly, dashboards):
    """No physical name: CloudFormation generates one, so two copies do not collide."""
    for stack_id, _, pattern, _, _ in dashboards:
        assert "DashboardName" not in assembly.properties(
            stack_id, pattern.dashboard.node.default_child.node.path[len(stack_id) + 1:]
        )


# --- the prop and the building blocks, on tiny stacks ----------------------------


@pytest.mark.parametrize("on", [True, False])
def test_dashboard_prop_turns_it_on_and_off(on: bool):
    from aws_cdk.assertions import Template

    from refarch.fanout import FanOut, Subscriber

    stack = cdk.Stack(cdk.App(), "Tiny")
    fanout = FanOut(stack, "F", subscribers=[Subscriber(name="a")], dashboard=on)
    assert (fanout.dashboard is not None) is on
    Template.from_stack(stack).resource_count_is("AWS::CloudWatch::Dashboard", 1 if on else 0)


def test_graph_draws_alarm_thresholds_once_and_limits_in_grey():
    from refarch import observe

    stack = cdk.Stack(cdk.App(), "Tiny")
    metric = cloudwatch.Metric(namespace="AWS/SQS", metric_name="ApproximateNumberOfMessagesVisible",
                               dimensions_map={"QueueName": "q"})
    alarms = [metric.create_alarm(stack, f"A{i}", threshold=7, evaluation_periods=1) for i in range(2)]
    widget = observe.graph("t", [metric], alarms=alarms, limits=[(3, "target")])
    annotations = stack.resolve(widget.to_json())[0]["properties"]["annotations"]["horizontal"]
    assert [a["value"] for a in annotations] == [7, 3]
    assert annotations[1]["label"] == "target" and annotations[1]["color"] == cloudwatch.Color.GREY


def test_pattern_dashboard_lists_every_alarm_twice():
    """Once in the status widget, once as its own alarm widget."""
    from refarch import observe

    stack = cdk.Stack(cdk.App(), "Tiny")
    metric = cloudwatch.Metric(namespace="AWS/SQS", metric_name="NumberOfMessagesSent",
                               dimensions_map={"QueueName": "q"})
    alarms = [metric.create_alarm(stack, f"A{i}", threshold=i, evaluation_periods=1) for i in range(3)]
    observe.pattern_dashboard(stack, "D", title="t", rows=[[observe.graph("g", [metric])]], alarms=alarms)
    from aws_cdk.assertions import Template

    (dashboard,) = Template.from_stack(stack).find_resources("AWS::CloudWatch::Dashboard").values()
    body = resolve_body(dashboard["Properties"]["DashboardBody"])
    status = [w for w in body["widgets"] if w["type"] == "alarm"]
    own = [w for w in body["widgets"] if "alarms" in w["properties"].get("annotations", {})]
    assert len(status) == 1 and len(status[0]["properties"]["alarms"]) == 3
    assert len(own) == 3
    assert "DashboardName" not in dashboard["Properties"]


def _pattern_classes():
    from refarch.amazon_mq import Broker
    from refarch.database import AuroraCluster, RdsWithReadReplicas
    from refarch.edge import EdgeDistribution, RegionalOrigin
    from refarch.fanout import FanOut
    from refarch.mobile_push import MobilePush
    from refarch.mutual_tls import MutualTlsService
    from refarch.streaming import StreamPipeline
    from refarch.worker_fleet import QueueWorkerFleet

    return [FanOut, QueueWorkerFleet, StreamPipeline, MobilePush, AuroraCluster, RdsWithReadReplicas,
            RegionalOrigin, EdgeDistribution, MutualTlsService, Broker]


@pytest.mark.parametrize("pattern", _pattern_classes(), ids=lambda c: c.__name__)
def test_dashboard_prop_must_be_a_bool(pattern):
    """Checked before anything else, so the other props may be left out here."""
    stack = cdk.Stack(cdk.App(), "Tiny", env=cdk.Environment(account="111111111111", region="us-east-1"))
    with pytest.raises(ValueError, match=re.escape("dashboard must be True or False (got 'yes')")):
        pattern(stack, "P", **{"dashboard": "yes", **{name: None for name in _required(pattern)}})


def _required(cls) -> list[str]:
    import inspect

    return [n for n, p in inspect.signature(cls.__init__).parameters.items()
            if p.kind == p.KEYWORD_ONLY and p.default is inspect.Parameter.empty]


def test_each_app_stack_outputs_its_dashboards_console_address(assembly, dashboards):
    """``DashboardUrl`` for the stack's main pattern; a second pattern in the stack (BrokerStack's
    FanOut) has an output of its own ending in ``DashboardUrl``."""
    from stacks import STACK_IDS

    checked = set()
    for stack_id, _, pattern, _, _ in dashboards:
        if stack_id not in STACK_IDS:
            continue
        outputs = assembly.template(stack_id)["Outputs"]
        assert "DashboardUrl" in outputs, f"{stack_id} has no DashboardUrl output"
        ref = f'{{"Ref": "{_logical_id(assembly, stack_id, pattern.dashboard)}"}}'
        values = [json.dumps(o["Value"]) for k, o in outputs.items() if k.endswith("DashboardUrl")]
        value = next((v for v in values if ref in v), None)
        assert value is not None, f"{stack_id}: no output names {pattern.node.path}'s dashboard"
        assert "console.aws.amazon.com/cloudwatch/home" in value and "#dashboards/dashboard/" in value
        checked.add(stack_id)
    assert checked == {s for s in STACK_IDS if s != "NetworkStack"}


# --- Amazon MQ: the broker's name as the dimension, the bridge's row on the broker's dashboard ------


def _broker_dimensions(body: dict) -> set[str]:
    return {_dimensions(m).get("Broker") for _, m in _metrics(body) if m[0] == "AWS/AmazonMQ"}


def test_broker_dashboard_names_the_broker_and_shows_its_bridges(assembly, dashboards):
    """The broker's metrics name the broker (a physical name, not a reference); each BrokerBridge's
    function is on its broker's dashboard with its alarm as an alarm widget and its threshold annotated."""
    from refarch.amazon_mq import BrokerBridge

    bridges = 0
    for stack_id, _, pattern, body, refs in dashboards:
        if type(pattern).__name__ != "Broker":
            continue
        names = {m[1] for _, m in _metrics(body) if m[0] == "AWS/AmazonMQ"}
        if pattern.engine == "RABBITMQ":
            assert _broker_dimensions(body) == {pattern.broker_name}, _broker_dimensions(body)
            assert {"MessageCount", "MessageReadyCount", "MessageUnacknowledgedCount", "PublishRate", "AckRate",
                    "ConfirmRate", "ConnectionCount", "RabbitMQMemUsed", "RabbitMQMemLimit", "RabbitMQDiskFree",
                    "RabbitMQDiskFreeLimit"} <= names, names
        else:
            instances = {f"{pattern.broker_name}-1"} | (
                {f"{pattern.broker_name}-2"} if pattern.deployment_mode == "ACTIVE_STANDBY_MULTI_AZ" else set())
            assert _broker_dimensions(body) == instances, _broker_dimensions(body)
            assert {"StorePercentUsage", "HeapUsage", "TotalMessageCount", "CurrentConnectionsCount"} <= names
        for bridge in [c for c in assembly.stacks[stack_id].node.find_all()
                       if isinstance(c, BrokerBridge) and c.broker is pattern]:
            assert _logical_id(assembly, stack_id, bridge.function) in refs, f"{bridge.node.path} not shown"
            alarm_widgets = {arn for w in body["widgets"]
                             for arn in w.get("properties", {}).get("annotations", {}).get("alarms", [])}
            for alarm in bridge.alarms:
                assert f"${{GetAtt:{_logical_id(assembly, stack_id, alarm)}.Arn}}" in alarm_widgets
            bridges += 1
    assert bridges


def test_activemq_dashboard_shows_each_instance():
    from aws_cdk.assertions import Template

    from refarch import secure
    from refarch.amazon_mq import ACTIVEMQ, Broker

    stack = cdk.Stack(cdk.App(), "Tiny", env=cdk.Environment(account="111111111111", region="us-east-1"))
    broker = Broker(stack, "B", vpc=secure.Network(stack, "N").vpc, engine=ACTIVEMQ)
    (dashboard,) = Template.from_stack(stack).find_resources("AWS::CloudWatch::Dashboard").values()
    body = resolve_body(dashboard["Properties"]["DashboardBody"])
    assert _broker_dimensions(body) == {f"{broker.broker_name}-1", f"{broker.broker_name}-2"}
    names = {m[1] for _, m in _metrics(body) if m[0] == "AWS/AmazonMQ"}
    assert {"StorePercentUsage", "HeapUsage", "TotalMessageCount", "CurrentConnectionsCount"} <= names
    values = {a["value"] for w in body["widgets"]
              for a in w.get("properties", {}).get("annotations", {}).get("horizontal", [])}
    assert {80, 10_000, 1_000} <= values


def test_broker_without_dashboard_takes_a_bridge():
    from aws_cdk import aws_sns as sns
    from aws_cdk.assertions import Template

    from refarch import secure
    from refarch.amazon_mq import Broker, BrokerBridge

    stack = cdk.Stack(cdk.App(), "Tiny", env=cdk.Environment(account="111111111111", region="us-east-1"))
    broker = Broker(stack, "B", vpc=secure.Network(stack, "N").vpc, dashboard=False)
    BrokerBridge(stack, "Bridge", broker=broker, queue="q", topic=sns.Topic(stack, "T"))
    assert broker.dashboard is None
    Template.from_stack(stack).resource_count_is("AWS::CloudWatch::Dashboard", 0)
