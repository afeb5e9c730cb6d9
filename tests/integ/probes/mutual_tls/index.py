"""Integration probe for the mutual-TLS pattern (outside any VPC, over the internet).

Calls ``https://<domain>/`` once per client named in ``clients.json`` (written
beside this module at synthesis by integ_mutual_tls.py, with each client's
certificate and key; ``none`` presents no certificate) and returns what each
saw: the HTTP status and the echo target's answer, or that the TLS handshake
was refused.

The valid client also sends forged ``X-Amzn-Mtls-Clientcert-*`` headers: the
answer must carry its real certificate's subject and serial, not the forgery.
Only a refusal at the TLS layer (an SSL alert, or the connection reset or
closed during the handshake) counts as refused; a DNS error, a refused TCP
connection, a timeout or the server's certificate failing the client's check
is reported as an error, so a listener that is not reachable (or not the
right one) never looks like one that refuses.
"""

import json
import os
import ssl
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FORGED = {"X-Amzn-Mtls-Clientcert-Subject": "CN=forged.example,O=mallory",
          "X-Amzn-Mtls-Clientcert-Serial-Number": "0badc0de"}


def _serial(value: str | None) -> str:
    return (value or "").replace(":", "").lower().lstrip("0")


def server_context() -> ssl.SSLContext:
    """Checks the server's (ACM) certificate and name, as any client would."""
    return ssl.create_default_context()


def call(url: str, name: str, expected: dict) -> dict:
    context = server_context()
    if name != "none":
        context.load_cert_chain(os.path.join(HERE, f"{name}.pem"), os.path.join(HERE, f"{name}.key"))
    request = urllib.request.Request(url, headers=FORGED if name == "valid" else {})
    try:
        with urllib.request.urlopen(request, context=context, timeout=15) as resp:  # noqa: S310 (the stack's URL)
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read()
    except (urllib.error.URLError, ssl.SSLError, ConnectionError, OSError) as err:
        # urllib wraps what fails while connecting; with TLS 1.3 a refusal may surface later, unwrapped,
        # on the first read (an SSLError, whose own ``reason`` is only the alert's name).
        reason = err.reason if isinstance(err, urllib.error.URLError) else err
        # The server's refusal: a TLS alert or EOF (SSLError), or the connection reset mid-handshake. Not one:
        # the client's own rejection of the server's certificate, a refused TCP connection, DNS, a timeout.
        refused = (isinstance(reason, (ssl.SSLError, ConnectionResetError, BrokenPipeError))
                   and not isinstance(reason, ssl.SSLCertVerificationError))
        return {"refused": refused, "error": f"{type(reason).__name__}: {reason}"[:300]}
    result = {"refused": False, "status": status}
    try:
        answer = json.loads(body or b"{}")
    except ValueError:
        return {**result, "body": body[:300].decode(errors="replace")}
    if status == 200:
        result.update(subject=answer.get("subject"), issuer=answer.get("issuer"),
                      subject_matches=answer.get("subject") == expected.get("subject"),
                      serial_matches=_serial(answer.get("serial")) == _serial(expected.get("serial")))
    return result


def handler(event, _context):
    with open(os.path.join(HERE, "clients.json")) as file:
        clients = json.load(file)
    url = os.environ["SERVICE_URL"]
    return {name: call(url, name, expected) for name, expected in clients.items()}
