"""CloudFormation custom resource: finish only when every listed Kinesis consumer is ACTIVE.

``AWS::Kinesis::StreamConsumer`` reports CREATE_COMPLETE while the consumer is
still CREATING (aws/aws-cdk#37108), and Kinesis lets at most 5 consumers of a
stream be CREATING at once: a 6th ``RegisterStreamConsumer`` fails with
``LimitExceededException``
(https://docs.aws.amazon.com/kinesis/latest/APIReference/API_RegisterStreamConsumer.html).
``StreamPipeline`` registers its consumers in groups of at most 5, each group
after one of these resources has seen the previous group ACTIVE.

Create and Update poll ``DescribeStreamConsumer`` until every ARN in the
``ConsumerARNs`` property is ACTIVE, and report FAILED (rolling the stack
back) if that does not happen before the function's time runs out or a call
fails. Delete does nothing. Every invocation answers CloudFormation, so a
stack never waits for the service timeout.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.request
from typing import Any

import boto3

logger = logging.getLogger()
logger.setLevel(os.environ.get("LOG_LEVEL", "INFO"))

#: Seconds between polls; consumers usually become ACTIVE within seconds.
POLL_S = 2.0
#: Stop polling this long before Lambda's timeout, to leave time to answer CloudFormation.
MARGIN_MS = 15_000

sleep = time.sleep


def _kinesis() -> Any:
    return boto3.client("kinesis")


def wait_until_active(kinesis: Any, arns: list[str], context: Any) -> None:
    """Return once every consumer is ACTIVE; raise TimeoutError when the time left is spent."""
    pending = list(arns)
    while True:
        pending = [
            arn for arn in pending
            if kinesis.describe_stream_consumer(ConsumerARN=arn)["ConsumerDescription"]["ConsumerStatus"] != "ACTIVE"
        ]
        if not pending:
            return
        if context.get_remaining_time_in_millis() < MARGIN_MS + POLL_S * 1000:
            raise TimeoutError(f"consumers not ACTIVE in time: {', '.join(pending)}")
        logger.info("waiting for consumers", extra={"pending": pending})
        sleep(POLL_S)


def _respond(event: dict, status: str, reason: str) -> None:
    body = json.dumps({
        "Status": status,
        "Reason": reason[:1000],
        "PhysicalResourceId": event.get("PhysicalResourceId") or f"{event['LogicalResourceId']}-consumers-active",
        "StackId": event["StackId"],
        "RequestId": event["RequestId"],
        "LogicalResourceId": event["LogicalResourceId"],
        "Data": {},
    }).encode()
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (CloudFormation's pre-signed S3 URL)
        response.read()


def handler(event: dict, context: Any) -> None:
    try:
        if event["RequestType"] in ("Create", "Update"):
            arns = list(event["ResourceProperties"].get("ConsumerARNs", []))
            wait_until_active(_kinesis(), arns, context)
            reason = f"{len(arns)} consumer(s) ACTIVE"
        else:
            reason = "nothing to do on delete"
    except Exception as error:  # noqa: BLE001 (any failure must reach CloudFormation, or the stack hangs)
        logger.exception("failed")
        _respond(event, "FAILED", f"{type(error).__name__}: {error}")
        return
    _respond(event, "SUCCESS", reason)
