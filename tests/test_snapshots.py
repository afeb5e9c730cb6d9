"""One snapshot per meaningful configuration: every app stack and test case.

Update after an intended change with ``pytest tests/test_snapshots.py --snapshot-update``
and read the diff: every changed line should be one you meant.
"""

from __future__ import annotations

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.conftest import ALL_STACKS, Assembly, normalise


@pytest.fixture
def snapshot_json(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("stack_id", ALL_STACKS)
def test_template_snapshot(assembly: Assembly, stack_id: str, snapshot_json) -> None:
    assert normalise(assembly.template(stack_id)) == snapshot_json
