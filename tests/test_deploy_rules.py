"""Rules CloudFormation or the service enforce only at deploy time, which
cfn-lint does not know, checked over every template the suite builds (the
app's stacks and every test case), so every configuration keeps them.

Each rule names the AWS documentation (or the error a real deployment
returns) that settles it. A rule that matches nothing in any template
proves nothing: each test also asserts that it looked at something.
"""

from __future__ import annotations

from collections.abc import Iterator

from tests.conftest import ALL_STACKS, Assembly


def resources(assembly: Assembly, resource_type: str) -> Iterator[tuple[str, str, dict]]:
    """(stack ID, logical ID, template entry) of every resource of ``resource_type`` in every template."""
    for stack_id in ALL_STACKS:
        for logical_id, resource in assembly.of_type(stack_id, resource_type).items():
            yield stack_id, logical_id, resource
