#!/usr/bin/env python3
"""The refarch CDK app: the only place that reads context or the environment.

    npx cdk synth                      # every stack, offline
    npx cdk deploy FanOutStack -c alarm_email=ops@example.com
"""

import os

import aws_cdk as cdk

from stacks import AppConfig, add_compliance_checks, build

app = cdk.App()
config = AppConfig(
    alarm_email=app.node.try_get_context("alarm_email") or os.environ.get("REFARCH_ALARM_EMAIL") or None,
)
add_compliance_checks(app)
build(app, config)
app.synth()
