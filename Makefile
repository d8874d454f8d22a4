# The two commands of the README. Both install what they need (a Python venv with moto and
# cfn-lint) on first use.
.PHONY: dev seed test

dev: ## the local stack: moto, the table from template.yaml, the dev server on :3000
	bash infra/dev.sh

seed: ## the same, with demo experts loaded
	bash infra/dev.sh --seed

test: ## fmt, clippy, cfn-lint, all tests against moto, the quick-start smoke test
	bash infra/test.sh
