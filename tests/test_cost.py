"""refarch.tools.cost: the price pages' worked examples, monotonicity, the printed table, the docs.

The worked examples are the ones AWS prints on its price pages; each test
names its page and reproduces the page's figures to the cent.
"""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from refarch import sizing
from refarch.tools import cost
from stacks import STACK_IDS

ROOT = Path(__file__).resolve().parent.parent
PRICES = cost.load_prices()


def test_price_table_names_date_region_and_a_page_per_service():
    assert PRICES["region"] == "us-east-1" and PRICES["read_on"] and PRICES["hours_per_month"] == 730
    for name, service in PRICES["services"].items():
        assert service["url"].startswith("https://aws.amazon.com/"), name


def test_lambda_pricing_page_example_1():
    """https://aws.amazon.com/lambda/pricing/ (example 1 as the page printed it with the free tier):
    512 MB, 3 million invocations of 1 s, at 0.00001667 per GB-s and 0.20 per million requests,
    less 400,000 GB-s and 1M requests free: compute 18.34, requests 0.40, total 18.74 USD."""
    compute, requests = cost.lambda_charges(3_000_000, 1.0, 512, gb_second=0.00001667, requests_per_million=0.20,
                                            free_requests=1_000_000, free_gb_seconds=400_000)
    assert (round(compute, 2), round(requests, 2), round(compute + requests, 2)) == (18.34, 0.40, 18.74)


def test_kinesis_pricing_page_example():
    """https://aws.amazon.com/kinesis/data-streams/pricing/ (provisioned mode example): 100 records/s
    of 35 KB need 4 shards (3.4 MB/s); a 31-day month costs 44.64 USD of shard hours and 7.50 USD of
    PUT payload units (535.68 million, two 25 KB units per record), 52.14 USD in all."""
    shards = sizing.kinesis_shards(100 * 35 / 1024, 100)
    assert shards == 4
    records = 100 * 86400 * 31
    hours, puts = cost.kinesis_provisioned_charges(shards, 24 * 31, records, 35 * 1024, shard_hour=0.015,
                                                   put_payload_units_per_million=0.014)
    assert (round(hours, 2), round(puts, 2), round(hours + puts, 2)) == (44.64, 7.50, 52.14)


def test_firehose_pricing_page_example():
    """https://aws.amazon.com/firehose/pricing/: 100 records/s of 3 KB, each rounded up to 5 KB,
    over a 30-day month are 1,235.96 GB; at 0.029 USD/GB, 35.84 USD."""
    gb = cost.rounded_gb(100 * 86400 * 30, 3 * 1024, 5 * 1024)
    assert round(gb, 2) == 1235.96 and round(gb * 0.029, 2) == 35.84


def test_sns_and_sqs_bill_each_64_kib_chunk():
    """https://aws.amazon.com/sns/pricing/ and https://aws.amazon.com/sqs/pricing/: "a single API
    call with a 256 KB payload will be billed as four requests"; Kinesis: a 5 KB record is one PUT
    payload unit, 45 KB two, 1 MB 40."""
    assert cost.chunks(256 * 1024, 64 * 1024) == 4
    assert cost.chunks(1, 64 * 1024) == 1
    assert [cost.chunks(k * 1024, 25 * 1024) for k in (5, 45, 1000)] == [1, 2, 40]


def test_nat_gateway_and_interface_endpoints_are_billed_by_the_hour():
    template = {"Resources": {
        "Nat": {"Type": "AWS::EC2::NatGateway", "Properties": {}},
        "Endpoint": {"Type": "AWS::EC2::VPCEndpoint",
                     "Properties": {"VpcEndpointType": "Interface", "SubnetIds": ["a", "b", "c"]}},
        "Gateway": {"Type": "AWS::EC2::VPCEndpoint", "Properties": {"VpcEndpointType": "Gateway"}},
    }}
    result = cost.estimate("S", template, cost.Workload(nat_gb=100))
    assert {line.item: round(line.monthly_usd, 2) for line in result.lines} == {
        "NAT gateway hours": 32.85, "NAT gateway data processed": 4.50, "interface endpoint hours (3 AZ)": 21.90}


@pytest.mark.parametrize("field,value", [("messages_per_s", -1), ("record_kib", 0), ("workers", 1.5),
                                         ("origin_share", 2), ("lambda_ms", float("nan"))])
def test_workload_rejects_bad_numbers(field, value):
    with pytest.raises(ValueError, match=field):
        cost.Workload(**{field: value})


def _templates(assembly) -> dict[str, tuple[dict, str]]:
    return cost.read_templates(assembly.outdir, STACK_IDS)


NUMBERS = [f.name for f in fields(cost.Workload)]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    base=st.builds(
        cost.Workload,
        messages_per_s=st.floats(0, 5000), message_kib=st.floats(0.1, 256), records_per_s=st.floats(0, 50_000),
        record_kib=st.floats(0.1, 1000), workers=st.none() | st.integers(0, 30), processing_s=st.floats(0.01, 60),
        readers=st.none() | st.integers(0, 20), requests_per_s=st.floats(0, 10_000), data_out_gb=st.floats(0, 1e5),
        origin_share=st.floats(0, 0.5), lambda_ms=st.floats(1, 900_000), db_storage_gb=st.floats(0, 1e5),
        db_io_per_s=st.floats(0, 1e5), nat_gb=st.floats(0, 1e5)),
    name=st.sampled_from(NUMBERS),
    factor=st.floats(1.01, 10),
)
def test_cost_never_falls_when_a_workload_number_rises(assembly, base, name, factor):
    value = getattr(base, name)
    if value is None:
        return
    higher = value + 1 if isinstance(value, int) and value * factor < value + 1 else value * factor
    if isinstance(value, int):
        higher = int(max(higher, value + 1))
    if name == "origin_share":
        higher = min(higher, 1.0)
    raised = replace(base, **{name: higher})
    for stack, (template, region) in _templates(assembly).items():
        before = cost.estimate(stack, template, base, PRICES, region).monthly_usd
        after = cost.estimate(stack, template, raised, PRICES, region).monthly_usd
        assert after >= before, (stack, name, value, higher, before, after)


def test_idle_table_of_the_example_stacks(assembly, snapshot):
    costs = [cost.estimate(s, t, cost.IDLE, PRICES, r) for s, (t, r) in _templates(assembly).items()]
    assert cost.table(costs) == snapshot


def test_busy_table_of_the_example_stacks(assembly, snapshot):
    costs = [cost.estimate(s, t, cost.EXAMPLE_LOADS[s][1], PRICES, r) for s, (t, r) in _templates(assembly).items()]
    assert cost.table(costs, hide_zero=True) == snapshot


def test_json_output_has_stack_total_and_lines(assembly, capsys):
    assert cost.main(["--cdk-out", str(assembly.outdir), "--json", "--messages-per-s", "10"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {entry["stack"] for entry in data} >= set(STACK_IDS)
    for entry in data:
        assert isinstance(entry["monthly_usd"], float | int)
        assert entry["lines"], entry["stack"]
        for line in entry["lines"]:
            assert {"resource", "item", "monthly_usd"} <= set(line)
        assert round(sum(line["monthly_usd"] for line in entry["lines"]), 2) == pytest.approx(entry["monthly_usd"],
                                                                                              abs=0.05)


def test_every_case_template_is_priced_including_accelerator_and_health_checks(assembly):
    """The test cases carry what the app's default stacks do not (Global Accelerator, Route 53 health checks)."""
    items = set()
    for stack, (template, region) in cost.read_templates(assembly.outdir).items():
        result = cost.estimate(stack, template, cost.Workload(requests_per_s=10, data_out_gb=10), PRICES, region)
        items |= {line.item.split(" (")[0] for line in result.lines}
    for expected in ("Global Accelerator fixed fee", "Route 53 health check", "CloudFront HTTPS requests",
                     "WAF requests", "ALB hours", "Aurora instance db.r7g.large", "RDS Proxy",
                     "interface endpoint hours", "Kinesis shard hours", "Fargate vCPU", "SNS publishes",
                     "KMS key", "CloudWatch alarm"):
        assert any(item.startswith(expected) for item in items), expected


def test_missing_cdk_out_says_run_make_synth(tmp_path, capsys):
    assert cost.main(["--cdk-out", str(tmp_path)]) == 2
    assert "make synth" in capsys.readouterr().err


def test_docs_cost_sections_are_generated_from_the_templates(assembly, tmp_path):
    """Each pattern doc's cost tables equal what the calculator prints now (`python -m refarch.tools.cost --docs`)."""
    stale = []
    templates = cost.read_templates(assembly.outdir)
    for doc, stacks in cost.DOC_STACKS.items():
        text = (ROOT / "docs" / doc).read_text()
        for stack in stacks:
            section = cost.doc_section(stack, *templates[stack], PRICES)
            if section not in text:
                stale.append(f"{doc}: {stack}")
    assert not stale, f"run `make synth && python -m refarch.tools.cost --docs`: {stale}"


def test_checked_entries_name_real_prices():
    for entry in PRICES["checked"]:
        service, key = entry.split(".")
        assert key in PRICES["services"][service], entry


def test_instance_vcpus_for_the_proxy_charge():
    assert [sizing.instance_vcpus(c) for c in ("db.r7g.large", "db.r7g.xlarge", "r6g.4xlarge", "db.t4g.medium")] == \
        [2, 4, 16, 2]
    with pytest.raises(ValueError, match="instance_class"):
        sizing.instance_vcpus("db.serverless")


def test_proxy_is_billed_for_the_readers_auto_scaling_adds(assembly):
    template, region = cost.read_templates(assembly.outdir, ["DatabaseStack"])["DatabaseStack"]
    proxy = {r: next(line for line in cost.estimate("DatabaseStack", template, cost.Workload(readers=r), PRICES,
                                                    region).lines if line.item.startswith("RDS Proxy"))
             for r in (2, 5, 9)}
    # writer + readers, db.r7g.large = 2 vCPU each; the scaling range (2-5) caps the readers
    assert [proxy[r].quantity / 730 for r in (2, 5, 9)] == [6, 12, 12]
