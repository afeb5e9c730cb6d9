"""secure.Network's Site-to-Site VPN option (added for the database pattern): defaults and validation.

The option is off by default, so every existing network template is unchanged
(the shared snapshots prove it); the NetworkWithVpn case shows it on.
"""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Template

from refarch import secure
from tests.conftest import Assembly, new_app


@pytest.fixture(scope="module")
def vpn(assembly: Assembly) -> Template:
    return Template.from_json(assembly.template("NetworkWithVpn"))


def test_vpn_joins_customer_gateway_with_bgp(vpn: Template) -> None:
    vpn.resource_count_is("AWS::EC2::VPNGateway", 1)
    vpn.has_resource_properties("AWS::EC2::VPNGateway", {"Type": "ipsec.1", "AmazonSideAsn": 64512})
    vpn.has_resource_properties("AWS::EC2::CustomerGateway",
                                {"IpAddress": "52.0.0.10", "BgpAsn": 65010, "Type": "ipsec.1"})
    vpn.has_resource_properties("AWS::EC2::VPNConnection", {"StaticRoutesOnly": False, "Type": "ipsec.1"})


def test_vpn_routes_propagate_to_private_and_isolated_tiers_only(assembly: Assembly) -> None:
    resources = assembly.template("NetworkWithVpn")["Resources"]
    [propagation] = [r for r in resources.values() if r["Type"] == "AWS::EC2::VPNGatewayRoutePropagation"]
    tables = [t["Ref"] for t in propagation["Properties"]["RouteTableIds"]]
    assert len(tables) == 4
    assert all("PrivateSubnet" in t or "IsolatedSubnet" in t for t in tables)
    assert not any("PublicSubnet" in t for t in tables)


def test_no_vpn_by_default(assembly: Assembly) -> None:
    for stack in ("NetworkStack", "SharedBuildingBlocks", "SharedIsolatedNetwork"):
        types = {r["Type"] for r in assembly.template(stack)["Resources"].values()}
        assert not types & {"AWS::EC2::VPNGateway", "AWS::EC2::CustomerGateway", "AWS::EC2::VPNConnection"}


def test_network_stack_endpoints(assembly: Assembly) -> None:
    endpoints = [r["Properties"] for r in assembly.template("NetworkStack")["Resources"].values()
                 if r["Type"] == "AWS::EC2::VPCEndpoint"]
    services = sorted(e["ServiceName"]["Fn::Join"][1][-1].lstrip(".") for e in endpoints)
    assert services == sorted(["s3", "dynamodb", "sqs", "ecr.api", "ecr.dkr", "logs", "kms", "sns", "kinesis-streams",
                               "secretsmanager", "ssm", "ssmmessages", "ec2messages"])
    nat = [r for r in assembly.template("NetworkStack")["Resources"].values() if r["Type"] == "AWS::EC2::NatGateway"]
    assert nat == []


BAD = {
    "private address": (dict(vpn_customer_gateway_ip="10.0.0.1"),
                        "vpn_customer_gateway_ip must be the public IPv4 address of the on-premises VPN device "
                        "(got '10.0.0.1')"),
    "not an address": (dict(vpn_customer_gateway_ip="vpn.example.com"), "(got 'vpn.example.com')"),
    "IPv6": (dict(vpn_customer_gateway_ip="2001:4860:4860::8888"), "vpn_customer_gateway_ip must be the public IPv4"),
    "ASN zero": (dict(vpn_customer_gateway_ip="52.0.0.10", vpn_bgp_asn=0),
                 "vpn_bgp_asn must be a BGP ASN from 1 to 2147483647 other than the gateway's own 64512 (got 0)"),
    "ASN too large": (dict(vpn_customer_gateway_ip="52.0.0.10", vpn_bgp_asn=2**31), "(got 2147483648)"),
    "ASN of the gateway": (dict(vpn_customer_gateway_ip="52.0.0.10", vpn_bgp_asn=64512), "(got 64512)"),
    "ASN not an int": (dict(vpn_customer_gateway_ip="52.0.0.10", vpn_bgp_asn="65000"), "(got '65000')"),
    "ASN without VPN": (dict(vpn_bgp_asn=65000),
                        "vpn_bgp_asn applies only with vpn_customer_gateway_ip (a VPN to configure) (got 65000)"),
}


@pytest.mark.parametrize("case", BAD)
def test_vpn_validation(case: str) -> None:
    kwargs, message = BAD[case]
    with pytest.raises(ValueError) as err:
        secure.Network(cdk.Stack(new_app(), "S"), "Network", **kwargs)
    assert message in str(err.value)


def test_default_asn_is_private() -> None:
    stack = cdk.Stack(new_app(), "S")
    secure.Network(stack, "Network", vpn_customer_gateway_ip="52.0.0.10")
    Template.from_stack(stack).has_resource_properties("AWS::EC2::CustomerGateway", {"BgpAsn": 65000})
