"""Publish to the FanOutStack deployed into the local engine and check delivery
end to end: billing gets every message, shipping only what its filter admits,
audit the raw body. Reads the stack's outputs (``cdk deploy --outputs-file``)."""

from __future__ import annotations

import json
import sys
import time

import boto3

ENDPOINT = "http://127.0.0.1:4566"


def main(outputs_file: str) -> int:
    outputs = json.load(open(outputs_file))["FanOutStack"]
    kw = dict(endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    sns, sqs = boto3.client("sns", **kw), boto3.client("sqs", **kw)
    url = {name: next(v for k, v in outputs.items() if k.startswith(name) and k.endswith("QueueUrl")
                      and "DeadLetter" not in k and "Delivery" not in k)
           for name in ("Billing", "Shipping", "Audit")}
    admitted, dropped = {"order": "local-a"}, {"order": "local-b"}
    for body, event_type in ((dropped, "order_refunded"), (admitted, "order_placed")):
        sns.publish(TopicArn=outputs["TopicArn"], Message=json.dumps(body),
                    MessageAttributes={"event_type": {"DataType": "String", "StringValue": event_type}})
    got = {name: [] for name in url}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (len(got["Billing"]) < 2 or len(got["Audit"]) < 2):
        for name, queue in url.items():
            for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
                got[name].append(m["Body"])
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
    time.sleep(2)  # anything late for shipping would show now
    for m in sqs.receive_message(QueueUrl=url["Shipping"], MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", []):
        got["Shipping"].append(m["Body"])
    checks = {
        "billing got both, in the SNS envelope": sorted(json.loads(json.loads(b)["Message"])["order"]
                                                        for b in got["Billing"]) == ["local-a", "local-b"],
        "shipping got only the admitted one": [json.loads(json.loads(b)["Message"]) for b in got["Shipping"]]
        == [admitted],
        "audit got both raw bodies": sorted(got["Audit"]) == sorted(json.dumps(b) for b in (admitted, dropped)),
    }
    for what, ok in checks.items():
        print(f"  {'ok  ' if ok else 'FAIL'} {what}")
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
