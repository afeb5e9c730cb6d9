"""docs/conventions.md lists every acknowledgment the templates carry, per checker and rule, with its reason."""

from __future__ import annotations

import os

from tests import ack_table
from tests import control_tower as ct
from tests.conftest import ALL_STACKS, ROOT, Assembly

DOC = ROOT / "docs" / "conventions.md"


def test_conventions_table_of_acknowledgments_is_current(assembly: Assembly) -> None:
    expected = ack_table.table({s: assembly.template(s) for s in ALL_STACKS}, ct.load_exceptions())
    doc = DOC.read_text()
    if os.environ.get("REFARCH_UPDATE_DOCS"):
        DOC.write_text(ack_table.replace_in(doc, expected))
        doc = DOC.read_text()
    assert ack_table.BEGIN in doc and ack_table.END in doc
    assert ack_table.replace_in(doc, expected) == doc, (
        "docs/conventions.md's table of acknowledgments is out of date: "
        "REFARCH_UPDATE_DOCS=1 python -m pytest tests/test_ack_table.py")
    assert expected.count("\n| cdk-nag AwsSolutions |") > 0 and "| Control Tower |" in expected
