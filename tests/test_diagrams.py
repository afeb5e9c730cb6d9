"""docs/diagrams: the committed pictures show the graph the templates give now.

``refarch.tools.diagrams`` derives each app stack's graph (pattern groups,
data-path nodes and edges) from its synthesized template. These tests derive
it again from the session's synthesis and compare it with the committed
``docs/diagrams/<Stack>.json``, the D2 source and the graph fingerprint
stamped into the SVG, so a pattern change cannot leave its picture behind
(re-draw with ``make synth && make diagrams``). Pixels are not compared.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from refarch.tools import diagrams
from stacks import STACK_IDS

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "diagrams"
REDRAW = "the templates changed: run `make synth && make diagrams` and commit docs/diagrams"


@pytest.fixture(scope="module")
def graphs(assembly) -> dict[str, dict]:
    return {stack: diagrams.graph(stack, assembly.template(stack)) for stack in STACK_IDS}


@pytest.mark.parametrize("stack", STACK_IDS)
def test_committed_graph_matches_the_templates(graphs, stack):
    committed = json.loads((OUT / f"{stack}.json").read_text())
    assert committed == graphs[stack], REDRAW


@pytest.mark.parametrize("stack", STACK_IDS)
def test_committed_picture_was_drawn_from_that_graph(graphs, stack):
    assert (OUT / f"{stack}.d2").read_text() == diagrams.to_d2(graphs[stack], Path("ICONS")), REDRAW
    assert diagrams.svg_fingerprint(OUT / f"{stack}.svg") == diagrams.fingerprint(graphs[stack]), REDRAW
    assert diagrams.png_fingerprint(OUT / f"{stack}.png") == diagrams.fingerprint(graphs[stack]), REDRAW


def _edges(graph: dict) -> set[tuple[str, str, str]]:
    label = {n["id"]: n["label"].split("\n")[0] for n in graph["nodes"]}
    return {(label[e["from"]], label[e["to"]], e["label"]) for e in graph["edges"]}


def test_fan_out_graph_follows_the_messages(graphs):
    edges = _edges(graphs["FanOutStack"])
    for name in ("Billing", "Shipping", "Audit"):
        assert ("Topic", f"{name}/Queue", "deliver") in edges
        assert ("Topic", f"{name}/DeliveryDeadLetterQueue", "undeliverable") in edges
        assert (f"{name}/Queue", f"{name}/DeadLetterQueue", "redrive") in edges
        assert (f"{name}/Queue", "your consumers", "consume") in edges
    assert ("your producers", "Topic", "publish") in edges
    assert ("10 alarms", "Topic", "alarm") in edges


def test_streaming_graph_follows_the_records(graphs):
    edges = _edges(graphs["StreamingStack"])
    assert ("your producers", "Stream", "put records") in edges
    for consumer in ("Sessionizer", "FraudCheck"):
        assert ("Stream", f"{consumer}/StreamConsumer", "push (2 MB/s per shard)") in edges
        assert (f"{consumer}/StreamConsumer", f"{consumer}/Function", "consume") in edges
        assert (f"{consumer}/Function", f"{consumer}/DeadLetterQueue", "on failure") in edges
    assert ("Stream", "Delivery/DeliveryStream", "read") in edges
    assert ("Delivery/DeliveryStream", "Delivery/Bucket", "deliver") in edges


def test_worker_push_database_and_edge_graphs(graphs):
    assert ("Queue", "Thumbnails", "consume") in _edges(graphs["WorkerFleetStack"])
    assert ("Queue", "Thumbnails", "scale (backlog per worker)") in _edges(graphs["WorkerFleetStack"])
    push = _edges(graphs["PushStack"])
    assert ("Api", "RegisterFunction", "invoke") in push and ("RegisterFunction", "Apns", "register endpoints") in push
    database = _edges(graphs["DatabaseStack"])
    assert ("Cluster", "Cluster", "scale readers (average reader CPU)") in database
    assert ("Proxy", "Cluster", "pooled connections") in database and ("Cluster", "Cluster/Writer", "writer") in database
    edge = _edges(graphs["EdgeStack"])
    assert ("WebAcl", "Distribution", "filter") in edge and ("Distribution", "Content", "origin (OAC)") in edge


def test_graphs_leave_out_iam_keys_and_logs(graphs):
    for graph in graphs.values():
        types = {n["type"] for n in graph["nodes"]}
        assert not {t for t in types if t.startswith(("AWS::IAM::", "AWS::KMS::", "AWS::Logs::"))}, graph["stack"]
        assert all(set(ids) <= {n["id"] for n in graph["nodes"]} for ids in graph["groups"].values())


DOC_OF = {"FanOutStack": "fanout.md", "WorkerFleetStack": "worker-fleet.md", "StreamingStack": "streaming.md",
          "PushStack": "mobile-push.md", "NetworkStack": "database.md", "DatabaseStack": "database.md",
          "EdgeOriginUsEast1": "edge.md", "EdgeOriginEuWest1": "edge.md", "EdgeStack": "edge.md",
          "MutualTlsStack": "mutual-tls.md", "BrokerStack": "amazon-mq.md",
          "RdsDatabaseStack": "database.md"}


@pytest.mark.parametrize("stack", STACK_IDS)
def test_each_diagram_is_linked_from_its_pattern_doc(stack):
    assert f"diagrams/{stack}.svg" in (ROOT / "docs" / DOC_OF[stack]).read_text()
