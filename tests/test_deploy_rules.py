"""Rules CloudFormation or the service enforce only at deploy time, which
cfn-lint does not know, checked over every template the suite builds (the
app's stacks and every test case), so every configuration keeps them.

Each rule names the AWS documentation (or the error a real deployment
returns) that settles it. A rule that matches nothing in any template
proves nothing: each test also asserts that it looked at something.
"""

from __future__ import annotations

from collections.abc import Iterator

from tests.conftest import ALL_STACKS, Assembly


def resources(assembly: Assembly, resource_type: str) -> Iterator[tuple[str, str, dict]]:
    """(stack ID, logical ID, template entry) of every resource of ``resource_type`` in every template."""
    for stack_id in ALL_STACKS:
        for logical_id, resource in assembly.of_type(stack_id, resource_type).items():
            yield stack_id, logical_id, resource


# --- streaming ---

# Imported here, not at the top, so rules added by other sections merge without conflict.
import json  # noqa: E402
import re  # noqa: E402

import pytest  # noqa: E402

#: RegisterStreamConsumer: "you cannot have more than 5 consumers in a CREATING status at the same time"
#: (https://docs.aws.amazon.com/kinesis/latest/APIReference/API_RegisterStreamConsumer.html).
MAX_CONSUMERS_CREATING = 5
#: The one resource known to finish only once the consumers it names are ACTIVE (refarch.streaming's wait).
#: A DependsOn on an AWS::Kinesis::StreamConsumer orders nothing: it reports CREATE_COMPLETE while the
#: consumer is still CREATING (aws/aws-cdk#37108).
CONSUMERS_ACTIVE_TYPE = "Custom::KinesisConsumersActive"


def _references(value) -> set[str]:
    """Logical IDs a template value refers to (Ref, Fn::GetAtt, and inside Fn::Sub strings)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                found.add(inner)
            elif key == "Fn::GetAtt":
                found.add(inner[0] if isinstance(inner, list) else inner.split(".")[0])
            elif key == "Fn::Sub":
                text = inner[0] if isinstance(inner, list) else inner
                found.update(re.findall(r"\$\{([A-Za-z0-9]+)[.}]", text))
                if isinstance(inner, list):
                    found.update(_references(inner[1]))
            else:
                found.update(_references(inner))
    elif isinstance(value, list):
        for inner in value:
            found.update(_references(inner))
    return found


def consumer_creation_levels(template: dict) -> dict[str, list[list[str]]]:
    """Per stream (the StreamARN's logical ID), its StreamConsumers grouped by creation level, and raise
    AssertionError unless at most 5 of them can be CREATING at once.

    Consumer B is created after consumer A is ACTIVE only when B depends, directly or transitively, on a
    ``Custom::KinesisConsumersActive`` resource naming A. Level k+1 holds the consumers created after every
    consumer of level k; every consumer of a stream must be in one level, each level at most 5: then any set
    of consumers that could be CREATING together lies within one level.
    """
    resources = template.get("Resources", {})
    depends: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        on = resource.get("DependsOn", [])
        depends[logical_id] = ({on} if isinstance(on, str) else set(on)) | _references(resource.get("Properties", {}))

    def ancestors(logical_id: str) -> set[str]:
        seen: set[str] = set()
        stack = [logical_id]
        while stack:
            for parent in depends.get(stack.pop(), ()):
                if parent in resources and parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    waits = {k: _references(r.get("Properties", {})) for k, r in resources.items() if r["Type"] == CONSUMERS_ACTIVE_TYPE}
    after: dict[str, set[str]] = {}  # consumer -> consumers known ACTIVE before it is created
    streams: dict[str, list[str]] = {}
    for logical_id, resource in resources.items():
        if resource["Type"] != "AWS::Kinesis::StreamConsumer":
            continue
        [stream] = _references(resource["Properties"]["StreamARN"]) or {json.dumps(resource["Properties"]["StreamARN"])}
        streams.setdefault(stream, []).append(logical_id)
        up = ancestors(logical_id)
        after[logical_id] = {c for w in up & set(waits) for c in waits[w]}
    levels: dict[str, list[list[str]]] = {}
    for stream, consumers in streams.items():
        remaining, done, stream_levels = set(consumers), set(), []
        while remaining:
            level = sorted(c for c in remaining if not (after[c] & remaining))
            assert level, f"stream {stream}: consumers wait for each other in a cycle: {sorted(remaining)}"
            stream_levels.append(level)
            remaining -= set(level)
            done |= set(level)
        for k, level in enumerate(stream_levels):
            assert len(level) <= MAX_CONSUMERS_CREATING, (
                f"stream {stream}: {len(level)} consumers may be CREATING at once (Kinesis allows "
                f"{MAX_CONSUMERS_CREATING}): {level}")
            if k:
                previous = set(stream_levels[k - 1])
                for consumer in level:
                    assert previous <= after[consumer], (
                        f"stream {stream}: {consumer} may be created while {sorted(previous - after[consumer])} "
                        "are still CREATING")
        levels[stream] = stream_levels
    return levels


def test_at_most_five_stream_consumers_are_created_at_once(assembly: Assembly) -> None:
    consumers = 0
    chained = 0
    stacks = sorted({stack_id for stack_id, _, _ in resources(assembly, "AWS::Kinesis::StreamConsumer")})
    for stack_id in stacks:
        for levels in consumer_creation_levels(assembly.template(stack_id)).values():
            consumers += sum(map(len, levels))
            chained += len(levels) > 1
    assert consumers >= 7 and chained >= 1, "the rule must see a stream with more than 5 consumers"


def _consumer(name: str, depends_on: list[str] | None = None) -> dict:
    resource = {"Type": "AWS::Kinesis::StreamConsumer",
                "Properties": {"ConsumerName": name, "StreamARN": {"Fn::GetAtt": ["S", "Arn"]}}}
    if depends_on:
        resource["DependsOn"] = depends_on
    return resource


def _wait(names: list[str]) -> dict:
    return {"Type": CONSUMERS_ACTIVE_TYPE,
            "Properties": {"ConsumerARNs": [{"Fn::GetAtt": [n, "ConsumerARN"]} for n in names]}}


def test_the_consumer_rule_rejects_what_kinesis_rejects() -> None:
    stream = {"S": {"Type": "AWS::Kinesis::Stream", "Properties": {}}}
    first = [f"C{i}" for i in range(5)]
    parallel = {**stream, **{f"C{i}": _consumer(f"c{i}") for i in range(6)}}
    with pytest.raises(AssertionError, match="6 consumers may be CREATING at once"):
        consumer_creation_levels({"Resources": parallel})
    # A DependsOn on consumers does not wait for ACTIVE: still 6 possibly CREATING together.
    plain = {**stream, **{c: _consumer(c) for c in first}, "C5": _consumer("c5", depends_on=first)}
    with pytest.raises(AssertionError, match="6 consumers may be CREATING at once"):
        consumer_creation_levels({"Resources": plain})
    # A wait over only some of the first group leaves the others CREATING with C5.
    partial = {**stream, **{c: _consumer(c) for c in first}, "W": _wait(first[:3]), "C5": _consumer("c5", ["W"])}
    with pytest.raises(AssertionError, match=r"C5 may be created while \['C3', 'C4'\] are still CREATING"):
        consumer_creation_levels({"Resources": partial})
    # Waiting for the whole first group, directly or through another resource, is what Kinesis needs.
    waited = {**stream, **{c: _consumer(c) for c in first}, "W": _wait(first),
              "Q": {"Type": "AWS::SQS::Queue", "DependsOn": "W"}, "C5": _consumer("c5", ["Q"])}
    assert consumer_creation_levels({"Resources": waited}) == {"S": [first, ["C5"]]}
