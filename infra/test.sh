#!/usr/bin/env bash
# The README's test command: formatting, lints, the template lint, the OpenAPI document's
# validity, every Rust test against moto and Radicale (started here, stopped on exit),
# Schemathesis over the OpenAPI document against the dev server, then the quick-start smoke
# test.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source infra/emulator.sh
source infra/radicale.sh
venv=$(infra/venv.sh)

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
# The opt-in Stripe test-mode tests need a key to run, but are compiled (and linted) always.
cargo clippy -p end-to-end --features stripe-live --all-targets --quiet -- -D warnings
echo "== cfn-lint template.yaml"
"$venv/bin/cfn-lint" template.yaml
echo "== openapi-spec-validator"
"$venv/bin/openapi-spec-validator" functions/booking-api/openapi.yaml

log=$(mktemp)
radicale_dir=$(mktemp -d)
trap 'emulator_stop; radicale_stop; rm -rf "$radicale_dir"' EXIT
emulator_start "$venv" "$(free_port)" "$log"
radicale_start "$venv" "$(free_port)" "$radicale_dir"
echo "== cargo test (moto on $AWS_ENDPOINT_URL, Radicale on $RADICALE_URL)"
cargo test --workspace
echo "== schemathesis over openapi.yaml (a token of each group)"
bash infra/contract.sh "$venv"
emulator_stop
radicale_stop

echo "== quick-start smoke test"
bash infra/smoke.sh
