#!/usr/bin/env bash
# `make deploy-local`: deploy FanOutStack through the pinned CDK CLI into
# LocalStack's core engine on this machine and check delivery end to end.
# Opt-in, not part of `make test` or .ci/run (docs/integration.md, "Offline deploy").
#
# - needs Python >= 3.12 (LOCAL_PYTHON, else python3.13/python3.12 on PATH or under ~/.pyenv);
# - installs localstack-core 2026.3.0 into .localstack/venv (scripts/local/requirements.txt, capped by
#   scripts/local/constraints.txt);
# - runs the engine and the CLI inside a user + network namespace of their own (unshare):
#   the engine binds 0.0.0.0 whatever GATEWAY_LISTEN says, and there 0.0.0.0 is only that
#   namespace's loopback; nothing is reachable from outside and nothing inside reaches out;
# - stops everything it started (the namespace ends with its last process); bounded by LOCAL_TIMEOUT (600 s).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=$ROOT/.localstack

if [ "${1:-}" != "--inside" ]; then
  PY=${LOCAL_PYTHON:-}
  if [ -z "$PY" ]; then
    for c in python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[3-9]*/bin/python "$HOME"/.pyenv/versions/3.12*/bin/python; do
      if command -v "$c" > /dev/null 2>&1 && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
        PY=$c; break
      fi
    done
  fi
  if [ -z "$PY" ]; then
    echo "deploy-local: skipped, LocalStack's core needs Python >= 3.12 and none was found (set LOCAL_PYTHON)" >&2
    exit 2
  fi
  command -v unshare > /dev/null || { echo "deploy-local: needs unshare (util-linux) for a private network" >&2; exit 2; }
  want=$(cat scripts/local/requirements.txt scripts/local/constraints.txt | sha256sum | cut -c1-16)
  if [ ! -x "$STATE/venv/bin/python" ] || [ "$(cat "$STATE/.stamp" 2>/dev/null)" != "$want" ]; then
    echo "deploy-local: installing localstack-core 2026.3.0 with $PY into $STATE/venv"
    "$PY" -m venv "$STATE/venv"
    "$STATE/venv/bin/pip" install -q --disable-pip-version-check -c scripts/local/constraints.txt \
      -r scripts/local/requirements.txt 2> >(grep -v "^WARNING: Location" >&2)
    echo "$want" > "$STATE/.stamp"
  fi
  exec timeout --kill-after=10 "${LOCAL_TIMEOUT:-600}" unshare --user --map-root-user --net "$0" --inside
fi

# --- inside the namespace ----------------------------------------------------------
ip link set lo up
source .venv/refarch.env
rm -rf "$STATE/fs" "$STATE/cdk.out" && mkdir -p "$STATE/fs"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_ENDPOINT_URL=http://127.0.0.1:4566 CDK_DISABLE_CLI_TELEMETRY=true
GATEWAY_LISTEN=127.0.0.1:4566 FILESYSTEM_ROOT=$STATE/fs OVERRIDE_IN_DOCKER=0 SKIP_SSL_CERT_DOWNLOAD=1 \
  DISABLE_EVENTS=1 "$STATE/venv/bin/python" -m localstack.runtime.main > "$STATE/engine.log" 2>&1 &
ENGINE=$!
trap 'kill $ENGINE 2>/dev/null; wait $ENGINE 2>/dev/null || true' EXIT
for _ in $(seq 120); do
  curl -sf http://127.0.0.1:4566/_localstack/health > /dev/null && break
  kill -0 $ENGINE 2>/dev/null || { echo "deploy-local: the engine stopped (see $STATE/engine.log)" >&2; tail -20 "$STATE/engine.log" >&2; exit 1; }
  sleep 1
done
curl -sf http://127.0.0.1:4566/_localstack/health > /dev/null || { echo "deploy-local: engine not up in 120 s" >&2; exit 1; }
echo "deploy-local: engine up (log: $STATE/engine.log)"
CDK=(node node_modules/aws-cdk/bin/cdk --no-notices --output "$STATE/cdk.out")
"${CDK[@]}" bootstrap aws://000000000000/us-east-1 > "$STATE/bootstrap.log" 2>&1 \
  || { tail -20 "$STATE/bootstrap.log" >&2; exit 1; }
echo "deploy-local: bootstrapped"
"${CDK[@]}" deploy FanOutStack --require-approval never --outputs-file "$STATE/outputs.json" > "$STATE/deploy.log" 2>&1 \
  || { tail -30 "$STATE/deploy.log" >&2; exit 1; }
echo "deploy-local: FanOutStack deployed; checking delivery"
"$STATE/venv/bin/python" scripts/local/check_fanout.py "$STATE/outputs.json"
