"""Dashboards: one CloudWatch dashboard per pattern, built on ``aws_cloudwatch``.

Each pattern lays its graphs out in rows that follow the data's path
(producer -> queue or stream -> consumer -> dead letters), then
:func:`pattern_dashboard` adds what every dashboard has:

* a title and one alarm-status widget over every alarm of the pattern (the
  health at a glance: green, red or grey);
* the pattern's graphs, each with the thresholds of the alarms on what it
  shows as horizontal annotations (:func:`graph` ``alarms=``);
* one alarm widget per alarm (CloudWatch draws the alarm's own metric and its
  threshold), so nothing alarmed is missing from the picture.

Nothing here names a dashboard: CloudFormation generates the name, so two
copies of a pattern in one account do not collide.

Why not cdk-monitoring-constructs (10.3.3): it installs beside aws-cdk-lib
2.275 without changing it, and synth time was the same; but on the fan-out
example its dashboard body was 28.8 KB (template 20.2 KB -> 49.1 KB) against
14.3 KB here (template 34.6 KB) for a dashboard that also shows every alarm, its facades create
alarms of their own beside the patterns', and a copied pattern would need one
more jsii package. The figures are in docs/conventions.md ("Dashboards").
"""

from __future__ import annotations

from collections.abc import Sequence

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_wafv2 as wafv2
from constructs import Construct

#: A dashboard row is 24 units wide.
ROW = 24


def graph(
    title: str,
    left: Sequence[cloudwatch.IMetric],
    *,
    right: Sequence[cloudwatch.IMetric] = (),
    alarms: Sequence[cloudwatch.Alarm] = (),
    limits: Sequence[tuple[float, str]] = (),
    right_limits: Sequence[tuple[float, str]] = (),
    region: str | None = None,
    width: int = 8,
    height: int = 6,
    stacked: bool = False,
) -> cloudwatch.GraphWidget:
    """A graph of ``left`` (and ``right``) metrics.

    :param alarms: alarms on what the graph shows: each threshold becomes a
        horizontal annotation on the left axis (``Alarm.to_annotation``).
    :param limits: other lines worth seeing on the left axis, as
        ``(value, label)``: a target, a capacity, a scaling range.
    :param right_limits: the same on the right axis.
    :param region: the region the metrics live in. Default: the stack's.
    """
    annotations: dict[tuple[float, str], cloudwatch.HorizontalAnnotation] = {}
    for a in alarms:  # the same threshold on several alarms (one per instance) is drawn once
        annotation = a.to_annotation()
        annotations.setdefault((annotation.value, annotation.label or ""), annotation)
    return cloudwatch.GraphWidget(
        title=title,
        left=list(left),
        right=list(right),
        left_annotations=[*annotations.values(), *(_limit(v, label) for v, label in limits)],
        right_annotations=[_limit(v, label) for v, label in right_limits],
        left_y_axis=cloudwatch.YAxisProps(min=0),
        right_y_axis=cloudwatch.YAxisProps(min=0) if right else None,
        region=region,
        width=width,
        height=height,
        stacked=stacked,
    )


def _limit(value: float, label: str) -> cloudwatch.HorizontalAnnotation:
    return cloudwatch.HorizontalAnnotation(value=value, label=label, color=cloudwatch.Color.GREY)


def text(markdown: str, *, width: int = ROW, height: int = 1) -> cloudwatch.TextWidget:
    """A Markdown text widget (a dashboard's title or a row's heading).

    :param markdown: what the widget shows.
    :param width: grid columns. Default: a full row.
    :param height: grid rows. Default: 1.
    """
    return cloudwatch.TextWidget(markdown=markdown, width=width, height=height)


def pattern_dashboard(
    scope: Construct,
    construct_id: str,
    *,
    title: str,
    rows: Sequence[Sequence[cloudwatch.IWidget]],
    alarms: Sequence[cloudwatch.Alarm],
) -> cloudwatch.Dashboard:
    """One dashboard: title, alarm status, ``rows`` in order, then one alarm widget per alarm.

    Each row is laid out left to right (wrapping past 24 units).
    """
    dashboard = cloudwatch.Dashboard(
        scope,
        construct_id,
        default_interval=cdk.Duration.hours(3),
        period_override=cloudwatch.PeriodOverride.AUTO,
    )
    dashboard.add_widgets(text(f"# {title}"))
    if alarms:
        dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(
                title="Alarms",
                alarms=list(alarms),
                width=ROW,
                height=min(2 + (len(alarms) + 3) // 4, 8),
                sort_by=cloudwatch.AlarmStatusWidgetSortBy.STATE_UPDATED_TIMESTAMP,
            )
        )
    for row in rows:
        dashboard.add_widgets(*row)
    if alarms:
        dashboard.add_widgets(text("## Each alarm, its metric and threshold"))
        dashboard.add_widgets(*alarm_widgets(alarms))
    return dashboard


def console_url(dashboard: cloudwatch.Dashboard) -> str:
    """The dashboard's address in the CloudWatch console (commercial partition), for a stack output."""
    region = cdk.Stack.of(dashboard).region
    return (f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}"
            f"#dashboards/dashboard/{dashboard.dashboard_name}")


def alarm_widgets(alarms: Sequence[cloudwatch.Alarm], *, width: int = 6, height: int = 5) -> list[cloudwatch.AlarmWidget]:
    """One alarm widget per alarm, titled with the alarm's construct path below the pattern."""
    return [
        cloudwatch.AlarmWidget(alarm=a, title=_short_path(a), width=width, height=height, left_y_axis=cloudwatch.YAxisProps(min=0))
        for a in alarms
    ]


def _short_path(construct: Construct) -> str:
    """The construct's path without the stack (``Orders/billing/DeadLetterAlarm``)."""
    path = construct.node.path
    stack = cdk.Stack.of(construct).node.path
    return path[len(stack) + 1:] if path.startswith(stack + "/") else path


def _web_acl_metric_names(acl: wafv2.CfnWebACL) -> tuple[str | None, list[str]]:
    """The web ACL's CloudWatch metric name (the WebACL dimension) and its rules' (the Rule dimension);
    None when the web ACL's visibility configuration is not known at synth time."""
    def name(config: object) -> str | None:
        value = getattr(config, "metric_name", None)
        return value if isinstance(value, str) and not cdk.Token.is_unresolved(value) else None

    rules = acl.rules if isinstance(acl.rules, list) else []
    rule_names = [n for n in (name(getattr(r, "visibility_config", None)) for r in rules) if n]
    return name(acl.visibility_config), rule_names


def web_acl_row(acl: wafv2.CfnWebACL, heading: str, *, period: cdk.Duration,
                region: str | None = None) -> list[cloudwatch.IWidget] | None:
    """A dashboard row of a web ACL's allowed and blocked requests, overall and per rule; None when
    its metric name is not known at synth time. A REGIONAL web ACL's metrics carry ``Region`` too, a
    CLOUDFRONT one's do not: https://docs.aws.amazon.com/waf/latest/developerguide/waf-metrics.html"""
    acl_metric, rule_metrics = _web_acl_metric_names(acl)
    if acl_metric is None:
        return None

    def waf(name: str, rule: str) -> cloudwatch.Metric:
        dimensions = {"WebACL": acl_metric, **({"Region": region} if region else {}), "Rule": rule}
        return cloudwatch.Metric(namespace="AWS/WAFV2", metric_name=name, statistic="Sum", period=period,
                                 dimensions_map=dimensions, label=f"{name} {rule}")

    return [
        text(heading),
        graph("Allowed and blocked (all rules)", [waf("AllowedRequests", "ALL"), waf("BlockedRequests", "ALL")],
              width=8),
        graph("Blocked per rule (managed groups count their matches)",
              [waf("BlockedRequests", r) for r in rule_metrics] or [waf("BlockedRequests", "ALL")],
              width=16, stacked=True),
    ]
