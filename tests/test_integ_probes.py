"""The integration apps' probes (tests/integ/probes/), run offline against stand-ins.

The mutual-TLS probe decides what the integration assertion sees, so it must
call a refusal a refusal and nothing else: here it runs against the local
verify-mode server of tests/test_mutual_tls_behaviour.py (configured from a
synthesized listener, trust store and CRL) with the certificates laid out as
integ_mutual_tls.py lays them out.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import ssl
from pathlib import Path

import pytest

from tests.test_mutual_tls_behaviour import pki, server, shipped  # noqa: F401 (fixtures)

PROBES = Path(__file__).resolve().parent / "integ" / "probes"


def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture()
def mtls_probe(pki: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    """The probe's code directory as integ_mutual_tls.py writes it, trusting the stand-in server's CA."""
    issued = pki["issued"]
    for probe_name, demo_name in (("valid", "client"), ("other_ca", "other"), ("expired", "expired"),
                                  ("revoked", "revoked")):
        for ext in ("pem", "key"):
            shutil.copy(pki["dir"] / f"{demo_name}.{ext}", tmp_path / f"{probe_name}.{ext}")
    (tmp_path / "clients.json").write_text(json.dumps({
        "valid": {"subject": issued["client"].certificate.subject.rfc4514_string(),
                  "serial": issued["client"].serial_hex},
        "none": {}, "other_ca": {}, "expired": {}, "revoked": {}}))
    shutil.copy(PROBES / "mutual_tls" / "index.py", tmp_path / "index.py")
    module = _load(tmp_path / "index.py", "integ_mtls_probe")
    server_ca = str(pki["dir"] / "server-ca.pem")
    monkeypatch.setattr(module, "server_context", lambda: ssl.create_default_context(cafile=server_ca))
    return module


def test_mtls_probe_sees_the_valid_client_through_and_the_others_refused(mtls_probe, server) -> None:  # noqa: F811
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SERVICE_URL", f"https://127.0.0.1:{server.server_address[1]}/")
        result = mtls_probe.handler({}, None)
    valid = result.pop("valid")
    assert valid == {"refused": False, "status": 200, "subject": valid["subject"], "issuer": valid["issuer"],
                     "subject_matches": True, "serial_matches": True}, valid
    assert {name: seen["refused"] for name, seen in result.items()} == {
        "none": True, "other_ca": True, "expired": True, "revoked": True}, result


def test_mtls_probe_does_not_call_an_unreachable_service_a_refusal(mtls_probe) -> None:
    """A name that does not resolve (the alias record not there yet) is an error, not a refused handshake."""
    seen = mtls_probe.call("https://refarch-integ.invalid/", "none", {})
    assert seen["refused"] is False and "error" in seen, seen
    assert mtls_probe.call("https://127.0.0.1:9/", "none", {})["refused"] is False  # nothing listens: not a refusal


def test_mtls_probe_does_not_call_an_untrusted_server_a_refusal(mtls_probe, server,  # noqa: F811
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The client rejecting the server's certificate (not the ACM one) is an error, not the server refusing."""
    monkeypatch.setattr(mtls_probe, "server_context", ssl.create_default_context)
    seen = mtls_probe.call(f"https://127.0.0.1:{server.server_address[1]}/", "valid", {})
    assert seen["refused"] is False and "CertVerification" in seen["error"], seen


def test_mtls_probe_matches_serials_as_alb_writes_them(mtls_probe) -> None:
    assert mtls_probe._serial("0A:1B:2c") == mtls_probe._serial("a1b2c") == "a1b2c"


class _FakeGa:
    def __init__(self, groups: dict[str, list[str]]) -> None:
        self.groups = groups

    def get_paginator(self, _name):
        return type("P", (), {"paginate": lambda _self: [{"Accelerators": [
            {"DnsName": "other.awsglobalaccelerator.com", "AcceleratorArn": "arn:other"},
            {"DnsName": "a1.awsglobalaccelerator.com", "AcceleratorArn": "arn:a1"}]}]})()

    def list_listeners(self, AcceleratorArn):  # noqa: N803 (boto3's names)
        assert AcceleratorArn == "arn:a1"
        return {"Listeners": [{"ListenerArn": "arn:a1/l80"}]}

    def list_endpoint_groups(self, ListenerArn):  # noqa: N803
        return {"EndpointGroups": [{"EndpointGroupRegion": region, "EndpointDescriptions": [
            {"EndpointId": f"alb-{i}", "HealthState": state} for i, state in enumerate(states)]}
            for region, states in self.groups.items()]}


class _FakeRoute53:
    def __init__(self, statuses: dict[str, list[str]]) -> None:
        self.statuses = statuses

    def get_health_check_status(self, HealthCheckId):  # noqa: N803
        return {"HealthCheckObservations": [{"Region": "us-east-1", "StatusReport": {"Status": s}}
                                            for s in self.statuses[HealthCheckId]]}


def test_edge_health_probe_reports_each_region_and_only_all_healthy_as_healthy(monkeypatch: pytest.MonkeyPatch) -> None:
    probe = _load(PROBES / "edge_health" / "index.py", "integ_edge_health_probe")
    ga = _FakeGa({"us-east-1": ["HEALTHY"], "eu-west-1": ["HEALTHY", "UNHEALTHY"], "ap-south-1": []})
    ok = "Success: HTTP Status Code 200, OK"
    route53 = _FakeRoute53({"hc-1": [ok, ok, "Failure: Connection timed out"], "hc-2": [ok, "Failure: 503"]})
    regions = []

    def client(name, region_name=None):
        regions.append((name, region_name))
        return ga if name == "globalaccelerator" else route53

    monkeypatch.setattr(probe.boto3, "client", client)
    monkeypatch.setenv("ACCELERATOR_DNS", "a1.awsglobalaccelerator.com")
    monkeypatch.setenv("HEALTH_CHECKS", "us-east-1=hc-1,eu-west-1=hc-2")
    assert probe.handler({}, None) == {
        "endpoint_groups": {"us-east-1": "HEALTHY", "eu-west-1": "HEALTHY,UNHEALTHY", "ap-south-1": "NONE"},
        "health_checks": {"us-east-1": "HEALTHY", "eu-west-1": "1/2 checkers see success"}}
    assert ("globalaccelerator", "us-west-2") in regions  # its API lives there only
    monkeypatch.setenv("ACCELERATOR_DNS", "missing.awsglobalaccelerator.com")
    monkeypatch.setenv("HEALTH_CHECKS", "")
    assert probe.handler({}, None) == {"endpoint_groups": {"error": "no accelerator named "
                                                                    "missing.awsglobalaccelerator.com"},
                                       "health_checks": {}}


def test_mq_probe_declares_the_quorum_queue_once_and_publishes_confirmed_messages_with_their_ids(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Amazon MQ probe against a local RabbitMQ (tests/rabbitmq_local.py) and moto's Secrets Manager:
    the first call declares ``orders`` as a quorum queue, the second finds it; both messages are on the
    queue with the producer's message ID and body, as the bridge's event source will read them."""
    from tests import rabbitmq_local

    pika = pytest.importorskip("pika")
    if not rabbitmq_local.available():
        pytest.skip("rabbitmq-server is not installed (scripts/setup.sh installs Debian's package where apt is)")
    from moto import mock_aws

    node = rabbitmq_local.start(tmp_path / "rabbitmq")
    try:
        monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        with mock_aws():
            import boto3

            arn = boto3.client("secretsmanager").create_secret(
                Name="broker", SecretString=json.dumps({"username": "guest", "password": "guest"}))["ARN"]
            monkeypatch.setenv("SECRET_ARN", arn)
            monkeypatch.setenv("QUEUE", "orders")
            monkeypatch.setenv("AMQP_ENDPOINT", f"amqp://127.0.0.1:{node.port}")
            probe = _load(PROBES / "amazon_mq" / "index.py", "integ_mq_probe")
            first = probe.handler({"message_id": "integ-1", "body": '{"order":1}'}, None)
            second = probe.handler({"message_id": "integ-2", "body": '{"order":2}'}, None)
        assert first == {"published": True, "queue_created": True, "message_id": "integ-1"}
        assert second == {"published": True, "queue_created": False, "message_id": "integ-2"}
        assert "orders\tquorum" in node.ctl("list_queues", "name", "type", "--no-table-headers", "--quiet")
        connection = pika.BlockingConnection(pika.ConnectionParameters("127.0.0.1", node.port))
        try:
            channel = connection.channel()
            got = [channel.basic_get("orders", auto_ack=True) for _ in range(2)]
        finally:
            connection.close()
        assert [(props.message_id, body) for _, props, body in got] == [
            ("integ-1", b'{"order":1}'), ("integ-2", b'{"order":2}')]
    finally:
        node.stop()
