#!/usr/bin/env python3
"""The refarch CDK app: the only place that reads context or the environment.

    npx cdk synth                      # every stack, offline
    npx cdk deploy FanOutStack -c alarm_email=ops@example.com
    npx cdk deploy --all -c edge_account=111122223333 -c edge_domain=example.com \
        -c edge_hosted_zone_id=Z0123456789ABC -c edge_accelerator=true   # see docs/edge.md
    npx cdk deploy MutualTlsStack -c mtls_account=111122223333 -c mtls_domain=mtls.example.com \
        -c mtls_hosted_zone_id=Z0123456789ABC -c mtls_ca_bundle=mtls/ca.pem   # see docs/mutual-tls.md
"""

import os

import aws_cdk as cdk

from stacks import AppConfig, add_compliance_checks, build

app = cdk.App()


def _context(key: str) -> str | None:
    return app.node.try_get_context(key) or None


config = AppConfig(
    alarm_email=_context("alarm_email") or os.environ.get("REFARCH_ALARM_EMAIL") or None,
    stage=_context("stage") or AppConfig.stage,
    edge_account=_context("edge_account") or AppConfig.edge_account,
    edge_regions=tuple(r.strip() for r in _context("edge_regions").split(",")) if _context("edge_regions")
    else AppConfig.edge_regions,
    edge_domain=_context("edge_domain"),
    edge_hosted_zone_id=_context("edge_hosted_zone_id"),
    edge_accelerator=str(_context("edge_accelerator")).lower() in ("true", "1", "yes"),
    edge_failover=str(_context("edge_failover")).lower() in ("true", "1", "yes"),
    edge_origin_secret_version=_context("edge_origin_secret_version"),
    edge_origin_secret_previous_version=_context("edge_origin_secret_previous_version"),
    mtls_account=_context("mtls_account") or AppConfig.mtls_account,
    mtls_region=_context("mtls_region") or AppConfig.mtls_region,
    mtls_domain=_context("mtls_domain") or AppConfig.mtls_domain,
    mtls_hosted_zone_id=_context("mtls_hosted_zone_id") or AppConfig.mtls_hosted_zone_id,
    mtls_ca_bundle=_context("mtls_ca_bundle") or AppConfig.mtls_ca_bundle,
    mtls_crl=_context("mtls_crl"),
)
add_compliance_checks(app)
build(app, config)
app.synth()
