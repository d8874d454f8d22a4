#!/usr/bin/env bash
# The README's test command: formatting, lints, the template lint, every Rust test against
# moto (started here, stopped on exit), then the quick-start smoke test.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source infra/emulator.sh
venv=$(infra/venv.sh)

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cfn-lint template.yaml"
"$venv/bin/cfn-lint" template.yaml

log=$(mktemp)
trap emulator_stop EXIT
emulator_start "$venv" "$(free_port)" "$log"
echo "== cargo test (moto on $AWS_ENDPOINT_URL)"
cargo test --workspace
emulator_stop

echo "== quick-start smoke test"
bash infra/smoke.sh
