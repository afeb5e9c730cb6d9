# refarch: `make synth` and `make test` set everything up themselves (idempotent).
SHELL := /bin/bash
ENV := source .venv/refarch.env
# Offline: no notices fetch and no CLI telemetry (both call AWS endpoints).
CDK := node node_modules/aws-cdk/bin/cdk --no-notices
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: setup synth test bench clean

setup:
	@./scripts/setup.sh

# Every stack into cdk.out/, with cdk-nag AwsSolutions + Serverless as blocking
# validation plugins and aws-cdk-lib's template validator on; then per pack the
# findings and acknowledgments of all five cdk-nag packs, and AWS Control Tower's
# proactive controls over cdk.out/ (scripts/compliance.py; fails on a blocking finding).
synth: setup
	@$(ENV) && $(CDK) synth --quiet --output cdk.out
	@echo "Synthesized into cdk.out/:" && cd cdk.out && ls *.template.json | sed 's/^/  /'
	@$(ENV) && python scripts/compliance.py 2> .venv/compliance.log || { cat .venv/compliance.log; exit 1; }

test: setup
	@$(ENV) && CDK_VALIDATION=false python -m pytest

bench: setup
	@$(ENV) && python scripts/bench.py

clean:
	rm -rf cdk.out .pytest_cache .hypothesis
