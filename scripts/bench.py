"""`make bench`: synth time of the whole app beside an empty app's, and the test-suite time.

All three are measured in this one run, on this machine, with the CDK CLI as
`make synth` runs it (template validator on). The ratio says what the patterns
cost over the fixed price of starting node, jsii and the CLI.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# As `make synth` runs it: offline, no notices fetch, no telemetry.
CDK = ["node", str(ROOT / "node_modules" / "aws-cdk" / "bin" / "cdk"), "--no-notices"]
EMPTY_APP = "import aws_cdk as cdk; app = cdk.App(); cdk.Stack(app, 'Empty'); app.synth()"


def timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    env = {**os.environ, "CDK_DISABLE_CLI_TELEMETRY": "true", **(env or {})}
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"bench: {' '.join(cmd)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return elapsed


def main() -> int:
    with tempfile.TemporaryDirectory() as out:
        empty_app = Path(out, "empty_app.py")
        empty_app.write_text(EMPTY_APP)
        empty = timed([*CDK, "synth", "--quiet", "--app", f"{sys.executable} {empty_app}", "--output", f"{out}/empty"])
        whole = timed([*CDK, "synth", "--quiet", "--output", f"{out}/app"])
    tests = timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], env={"CDK_VALIDATION": "false"})
    print(f"{'synth, empty app':<28}{empty:7.1f} s")
    print(f"{'synth, whole app':<28}{whole:7.1f} s   ({whole / empty:.1f}x the empty app)")
    print(f"{'test suite (make test)':<28}{tests:7.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
