"""Example target behind the mutual-TLS listener (an ALB Lambda target).

The load balancer has already verified the client certificate (chain, expiry,
revocation) before this runs; it passes the certificate's fields in the
``X-Amzn-Mtls-Clientcert-*`` headers, which reach a Lambda target lower-case
in ``event["headers"]``. The handler answers with who the client is; replace
``authorise`` with your own rule (e.g. a list of allowed subjects or serials).
"""

import json
import logging
import os
from urllib.parse import unquote

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

PREFIX = "x-amzn-mtls-clientcert-"


def client_certificate(headers: dict) -> dict:
    """The client certificate's fields the ALB sent, keyed without the prefix
    (``subject``, ``issuer``, ``serial-number``, ``validity``, ``leaf``)."""
    fields = {k.lower()[len(PREFIX):]: v for k, v in (headers or {}).items() if k.lower().startswith(PREFIX)}
    if "leaf" in fields:
        fields["leaf"] = unquote(fields["leaf"])  # URL-encoded PEM
    return fields


def authorise(cert: dict) -> bool:
    """Every client the load balancer admitted, by default; narrow it here."""
    return bool(cert.get("subject"))


def handler(event: dict, _context: object) -> dict:
    cert = client_certificate(event.get("headers", {}))
    if not authorise(cert):
        logger.warning("refused", extra={"subject": cert.get("subject")})
        return {"statusCode": 403, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"error": "client certificate not authorised"})}
    logger.info("admitted", extra={"subject": cert["subject"], "serial": cert.get("serial-number")})
    body = {"subject": cert["subject"], "issuer": cert.get("issuer"), "serial": cert.get("serial-number"),
            "validity": cert.get("validity")}
    return {"statusCode": 200, "headers": {"Content-Type": "application/json"}, "body": json.dumps(body)}
