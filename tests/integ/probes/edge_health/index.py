"""Integration probe for the edge pattern: are the regional endpoints healthy?

Global Accelerator: finds the accelerator by its DNS name (its API is in
us-west-2 only) and returns, per endpoint group region, ``HEALTHY`` when every
ALB endpoint in it is healthy (for ALB endpoints that is the ALB's own target
health), else the states it saw.

Route 53 (with a domain): for each region's health check in ``HEALTH_CHECKS``
(``region=id,...``), ``HEALTHY`` when most of the health checkers' latest
observations are successes, else how many are.
"""

import os

import boto3

ACCELERATOR_API_REGION = "us-west-2"


def accelerator_health(dns_name: str) -> dict:
    ga = boto3.client("globalaccelerator", region_name=ACCELERATOR_API_REGION)
    accelerators = [a for page in ga.get_paginator("list_accelerators").paginate()
                    for a in page["Accelerators"] if a["DnsName"] == dns_name]
    if not accelerators:
        return {"error": f"no accelerator named {dns_name}"}
    regions = {}
    for listener in ga.list_listeners(AcceleratorArn=accelerators[0]["AcceleratorArn"])["Listeners"]:
        for group in ga.list_endpoint_groups(ListenerArn=listener["ListenerArn"])["EndpointGroups"]:
            states = sorted({d.get("HealthState", "UNKNOWN") for d in group["EndpointDescriptions"]}) or ["NONE"]
            regions[group["EndpointGroupRegion"]] = "HEALTHY" if states == ["HEALTHY"] else ",".join(states)
    return regions


def health_check_status(pairs: str) -> dict:
    route53 = boto3.client("route53")
    result = {}
    for pair in filter(None, pairs.split(",")):
        region, health_check_id = pair.split("=", 1)
        seen = route53.get_health_check_status(HealthCheckId=health_check_id)["HealthCheckObservations"]
        ok = sum(o["StatusReport"]["Status"].startswith("Success") for o in seen)
        result[region] = "HEALTHY" if seen and 2 * ok > len(seen) else f"{ok}/{len(seen)} checkers see success"
    return result


def handler(_event, _context):
    return {"endpoint_groups": accelerator_health(os.environ["ACCELERATOR_DNS"]),
            "health_checks": health_check_status(os.environ.get("HEALTH_CHECKS", ""))}
