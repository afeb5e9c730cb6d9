"""Integration app: mutual TLS on an ALB (docs/mutual-tls.md) in a real account.

MutualTlsStack as app.py builds it (VPC, echo function, ALB with a verify-mode
listener, trust store, CRL, certificate and alias record), with the load
balancer's deletion protection off. The ACM certificate is validated by DNS
and the alias record is created in a real public hosted zone, so this pattern
cannot run without one: name a domain directly below a zone you own and the
zone's ID by context:

    make integ PATTERNS=mutual_tls INTEG_CONTEXT="-c mtls_domain=mtls-integ.example.com -c mtls_hosted_zone_id=Z0123456789ABC"

(the zone's apex is the domain without its first label: here ``example.com``).
Without both, ``make integ`` reports the pattern SKIPPED and deploys nothing;
the offline snapshot (the placeholder domain and zone) still runs in
``make test``.

A test PKI is made at each synthesis with ``refarch.tools.mtls`` in a
temporary directory: a CA (the trust store's bundle) and its CRL, which revokes
one client; client certificates ``valid``, ``revoked`` and ``expired`` from
that CA and ``other_ca`` from a second CA the trust store does not hold. The
probe function carries the clients' certificates and keys (a throwaway CA,
uploaded only as the probe's code asset). Proves:

1. a client with a valid certificate gets through, and the echo target answers
   with that certificate's subject and serial, as the ALB passed them in the
   ``X-Amzn-Mtls-Clientcert-*`` headers, although the client sent forged ones;
2. the handshake is refused for a client without a certificate, one from
   another CA, an expired one and a revoked one (the CRL is in force);
3. the ALB delivers access logs and connection logs under the pattern's two
   prefixes of the logs bucket;
4. SetAlarmState on the refused-handshakes alarm reaches a probe queue
   subscribed to the alarm topic.
"""

import atexit
import datetime as dt
import json
import os
import re
import shutil
import tempfile
from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk.integ_tests_alpha import ExpectedResult, Match
from support import PROBES, alarm_reaches_topic, bounded, disposable, in_order, integ, invoked_by_assertion, new_app

from refarch import secure
from refarch.tools import mtls
from stacks.edge_stack import PLACEHOLDER_ACCOUNT
from stacks.mutual_tls_stack import DEFAULT_REGION, PLACEHOLDER_DOMAIN, PLACEHOLDER_ZONE_ID, MutualTlsStack

#: The context keys this app needs in an account (scripts/integ.py skips it without them).
CONTEXT = ("mtls_domain", "mtls_hosted_zone_id")

app = new_app()
domain = app.node.try_get_context("mtls_domain") or PLACEHOLDER_DOMAIN
zone_id = app.node.try_get_context("mtls_hosted_zone_id") or PLACEHOLDER_ZONE_ID
account = os.environ.get("CDK_DEFAULT_ACCOUNT", "")
account = account if re.fullmatch(r"\d{12}", account) else PLACEHOLDER_ACCOUNT  # offline snapshot
region = os.environ.get("CDK_DEFAULT_REGION") or DEFAULT_REGION

# --- the test PKI, new at each synthesis (asset hashes change; the snapshot masks them) ---------------
pki = Path(tempfile.mkdtemp(prefix="refarch-integ-mtls-"))
atexit.register(shutil.rmtree, pki, True)
probe_code = pki / "probe"
probe_code.mkdir()
ca, other_ca = mtls.make_ca("refarch integ CA"), mtls.make_ca("refarch integ other CA")
clients = {
    "valid": mtls.issue_client(ca, "valid.integ.refarch.test"),
    "revoked": mtls.issue_client(ca, "revoked.integ.refarch.test"),
    "expired": mtls.issue_client(ca, "expired.integ.refarch.test", days=1,
                                 not_before=dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)),
    "other_ca": mtls.issue_client(other_ca, "other.integ.refarch.test"),
}
(pki / "ca.pem").write_bytes(ca.cert_pem)
(pki / "crl.pem").write_bytes(mtls.crl_pem(mtls.make_crl(ca, [clients["revoked"].certificate.serial_number])))
for name, issued in clients.items():
    mtls.save(probe_code, name, issued)
    (probe_code / f"{name}.key").chmod(0o644)  # Lambda runs the code as another user than the zip's owner
(probe_code / "clients.json").write_text(json.dumps({
    "valid": {"subject": clients["valid"].certificate.subject.rfc4514_string(),
              "serial": clients["valid"].serial_hex},
    "none": {}, "other_ca": {}, "expired": {}, "revoked": {}}))
shutil.copy(PROBES / "mutual_tls" / "index.py", probe_code / "index.py")

environment = cdk.Environment(account=account, region=region)
stack = MutualTlsStack(app, "IntegMutualTls", env=environment,
                       domain_name=domain, hosted_zone_id=zone_id, ca_bundle=str(pki / "ca.pem"),
                       crl=str(pki / "crl.pem"), description="refarch integ: mutual TLS")
service = stack.service
service.load_balancer.set_attribute("deletion_protection.enabled", "false")
secure.acknowledge_strict(service.load_balancer.node.default_child, "ELBDeletionProtectionEnabled",
                          "integration-test load balancer, deleted when the run ends: deletion protection would keep "
                          "it (and the run's bill) running")
probe = secure.python_function(
    stack, "IntegClientProbe", code=lambda_.Code.from_asset(str(probe_code)), handler="index.handler",
    key=stack.node.find_child("Key"), timeout=cdk.Duration.minutes(2),
    environment={"SERVICE_URL": f"https://{domain}/"},
    description="integration probe: calls the service with and without client certificates",
)
invoked_by_assertion(probe)
disposable(stack)
assertions = cdk.Stack(app, "IntegMutualTlsAssertions", env=environment)  # the stack's explicit environment
test = integ(app, "MutualTls", [stack], assertion_stack=assertions)

REFUSED = Match.object_like({"refused": True})
calls = test.assertions.invoke_function(function_name=probe.function_name)
calls.expect(ExpectedResult.object_like({"Payload": Match.serialized_json(Match.object_like({
    "valid": Match.object_like({"refused": False, "status": 200, "subject_matches": True, "serial_matches": True}),
    "none": REFUSED, "other_ca": REFUSED, "expired": REFUSED, "revoked": REFUSED}))}))


def logs_under(prefix: str):
    """The ALB's log files arrive under ``prefix`` (delivered every 5 minutes)."""
    listed = test.assertions.aws_api_call("S3", "listObjectsV2", {
        "Bucket": service.logs_bucket.bucket_name, "Prefix": prefix, "MaxKeys": 5})
    listed.provider.add_to_role_policy({"Effect": "Allow", "Action": ["s3:ListBucket"],
                                        "Resource": [service.logs_bucket.bucket_arn]})
    listed.expect(ExpectedResult.object_like({"Contents": Match.array_with([
        Match.object_like({"Key": Match.string_like_regexp(f"^{prefix}")})])}))
    return bounded(listed, cdk.Duration.minutes(10))


refused_alarm = next(a for a in service.alarms if a.node.id == "RefusedHandshakesAlarm")
in_order(bounded(calls, cdk.Duration.minutes(10)), logs_under("Service/connection/"), logs_under("Service/access/"),
         alarm_reaches_topic(test, stack, refused_alarm))

app.synth()
