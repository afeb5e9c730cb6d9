# refarch: `make synth` and `make test` set everything up themselves (idempotent).
SHELL := /bin/bash
ENV := source .venv/refarch.env
# Offline: no notices fetch and no CLI telemetry (both call AWS endpoints).
CDK := node node_modules/aws-cdk/bin/cdk --no-notices
export CDK_DISABLE_CLI_TELEMETRY := true

.PHONY: setup synth test bench simulate clean cost diagrams docs integ integ-snapshots deploy-local

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

# Monthly cost of each synthesized stack (us-east-1 on-demand); a workload with
# ARGS, e.g. make cost ARGS="--messages-per-s 100 --json". Synthesizes first if cdk.out is absent.
cost: setup
	@[ -f cdk.out/manifest.json ] || $(MAKE) --no-print-directory synth
	@$(ENV) && python -m refarch.tools.cost $(ARGS)

# One diagram per app stack from cdk.out into docs/diagrams (graph .json, D2 source, SVG).
diagrams: setup
	@[ -f cdk.out/manifest.json ] || $(MAKE) --no-print-directory synth
	@$(ENV) && python -m refarch.tools.diagrams

# Integration apps (tests/integ/) in the account and region of your credentials:
# deploy, assert behaviour, destroy, one pattern after another. Costs money (docs/integration.md).
# make integ                      # every pattern
# make integ PATTERNS="fanout"    # some
# make integ PATTERNS=mobile_push INTEG_CONTEXT="-c push_fcm_secret=refarch/integ/fcm"
# make integ PATTERNS=mutual_tls INTEG_CONTEXT="-c mtls_domain=<name> -c mtls_hosted_zone_id=<zone ID>"
integ: setup
	@$(ENV) && python scripts/integ.py run $(PATTERNS) $(INTEG_CONTEXT)

# After an intended change to a pattern: rewrite the integration apps' snapshots (offline).
integ-snapshots: setup
	@$(ENV) && python scripts/integ.py update

# Opt-in: FanOutStack through the real CLI into LocalStack's core on this machine (Python >= 3.12,
# its own network namespace), delivery checked end to end; not in `make test` (docs/integration.md).
deploy-local: setup
	@./scripts/deploy_local.sh

bench: setup
	@$(ENV) && python scripts/bench.py

# The worker fleet's scaling policy beside its peers' and the ideal (docs/worker-fleet.md, "How it scales").
# Arguments through ARGS, e.g. make simulate ARGS="--json --scenario diurnal".
simulate: setup
	@$(ENV) && python -m refarch.tools.simulate $(ARGS)

# API reference from the docstrings (pdoc) and the narrative pages, into site/;
# fails on any warning, broken cross-reference or undocumented public prop.
docs: setup
	@$(ENV) && python scripts/docs.py site

clean:
	rm -rf cdk.out .pytest_cache .hypothesis site build dist
