#!/usr/bin/env bash
# The API contract checked from outside: Schemathesis (pinned in requirements.txt) generates
# requests from functions/booking-api/openapi.yaml and sends them to the dev server (API
# Gateway stand-in, JWT authorizer, the real handlers) on the emulators the caller started,
# once with a token of each group. Any server error, undocumented status or content type, or
# answer that does not match its schema fails the run. Bounded: at most 10 examples per
# operation and phase, a fixed seed (a finding can be replayed), and 5 minutes per group.
# usage: infra/contract.sh VENV   (AWS_* exported by the caller, as infra/test.sh does)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source infra/emulator.sh
venv=$1
bin="${CARGO_TARGET_DIR:-$root/target}/debug/local-stack"
cargo build --quiet -p local-stack
port=$(free_port)
log=$(mktemp)
TABLE_NAME="contract-$(date +%s%N)" STRIPE_PORT=$(free_port) PROVIDERS_PORT=$(free_port) \
  "$bin" serve --port "$port" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true' EXIT
wait_for_http "http://127.0.0.1:$port/v1/experts" "$server" "dev server (log: $log)"
report=$(mktemp -d)
for group in experts clients admins; do
  token=$("$bin" token --sub "contract-$group" --email "contract-$group@example.com" --group "$group")
  echo "-- as a member of $group"
  (cd "$report" && timeout 300 "$venv/bin/schemathesis" run "$root/functions/booking-api/openapi.yaml" \
    --url "http://127.0.0.1:$port" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --header "Authorization: Bearer $token" \
    --max-examples 10 --seed 1 --request-timeout 10 --generation-database none --no-color) ||
    { echo "schemathesis found a problem (as $group); the dev server's log: $log" >&2; exit 1; }
done
rm -rf "$report"
