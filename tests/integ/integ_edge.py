"""Integration app: edge (docs/edge.md) in a real account.

The edge stacks as app.py builds them without a domain or an accelerator
(origins in us-east-1 and eu-west-1, CloudFront and WAF in us-east-1), in the
account of the caller's credentials. Proves:

1. an HTTPS GET through CloudFront returns the origin's answer (an object put
   into the content bucket) with the security headers of the response headers
   policy (HSTS, nosniff, frame options);
2. a request for ``/api/*`` through CloudFront reaches the regional ALB past
   its origin check (the ALB's answer, 503 as no service is registered in
   this test, not its 403), while the same request straight to the ALB is
   refused with 403 (origin protection);
3. SetAlarmState on an alarm of the distribution stack and of an origin stack
   reaches a probe queue subscribed to that stack's alarm topic.

Not covered here (needs a domain, a hosted zone and a service behind the
ALBs): Route 53 and Global Accelerator answering with healthy endpoints in
both regions; see docs/edge.md.
"""

import os
import re

import aws_cdk as cdk
from aws_cdk.integ_tests_alpha import ExpectedResult, Match
from support import alarm_reaches_topic, alarms_in, bounded, disposable, in_order, integ, kms_use, new_app

from stacks.edge_stack import CLOUDFRONT_REGION, PLACEHOLDER_ACCOUNT, build_edge

app = new_app()
account = os.environ.get("CDK_DEFAULT_ACCOUNT", "")
account = account if re.fullmatch(r"\d{12}", account) else PLACEHOLDER_ACCOUNT  # offline snapshot
stacks = build_edge(app, "IntegEdge", account=account)
for stack in stacks.values():
    stack.termination_protection = False
disposable(*stacks.values())
edge_stack = stacks["IntegEdgeStack"]
origin_stack = stacks["IntegEdgeOriginUsEast1"]
assertions = cdk.Stack(app, "IntegEdgeAssertions", env=cdk.Environment(account=account, region=CLOUDFRONT_REGION))
test = integ(app, "Edge", list(stacks.values()), assertion_stack=assertions)

edge = edge_stack.edge
site = f"https://{edge.distribution.distribution_domain_name}"
put = test.assertions.aws_api_call("S3", "putObject", {
    "Bucket": edge.content_bucket.bucket_name, "Key": "integ/index.html",
    "Body": "refarch integ", "ContentType": "text/html"})
kms_use(put, edge.key.key_arn)
page = test.assertions.http_api_call(f"{site}/integ/index.html")
# The provider returns each header as a list of values (node-fetch's headers.raw()).
page.expect(ExpectedResult.object_like({"status": 200, "body": "refarch integ", "headers": Match.object_like({
    "strict-transport-security": Match.array_with([Match.string_like_regexp("max-age=[1-9]")]),
    "x-content-type-options": ["nosniff"],
    "x-frame-options": ["DENY"]})}))
through = test.assertions.http_api_call(f"{site}/api/integ")
through.expect(ExpectedResult.object_like({"status": 503}))
direct = test.assertions.http_api_call(f"http://{origin_stack.origin.load_balancer.load_balancer_dns_name}/api/integ")
direct.expect(ExpectedResult.object_like({"status": 403, "body": "Forbidden"}))
in_order(put, bounded(page, cdk.Duration.minutes(10)), bounded(through), direct,
         alarm_reaches_topic(test, edge_stack, alarms_in(edge_stack)[0]),
         alarm_reaches_topic(test, origin_stack, alarms_in(origin_stack)[0]))

app.synth()
