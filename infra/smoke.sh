#!/usr/bin/env bash
# Runs the README's quick start for real: starts `infra/dev.sh --seed` on free ports, mints a
# token, creates an expert profile with curl, reads it back, then stops the stack and checks
# that nothing it started is still listening.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source infra/emulator.sh
bin="${CARGO_TARGET_DIR:-$root/target}/debug/local-stack"
# Built before the clock starts: the wait below is for the stack, not for the compiler.
cargo build --quiet -p local-stack
api_port=$(free_port)
moto_port=$(free_port)
log=$(mktemp)
stripe_port=$(free_port)
radicale_port=$(free_port)
providers_port=$(free_port)
STRIPE_PORT=$stripe_port MOTO_PORT=$moto_port RADICALE_PORT=$radicale_port PROVIDERS_PORT=$providers_port \
  setsid infra/dev.sh --seed --port "$api_port" >"$log" 2>&1 &
stack=$!
stop() { kill -TERM -- "-$stack" 2>/dev/null || true; wait "$stack" 2>/dev/null || true; }
trap stop EXIT
fail() { echo "smoke: $*" >&2; echo "--- stack log:" >&2; cat "$log" >&2; exit 1; }

wait_for_http "http://127.0.0.1:$api_port/v1/experts/exp_01JD8Y3V9K2Q4R5S6T7V8W9X0Y" "$stack" "dev server" ||
  fail "the stack did not come up"
base="http://127.0.0.1:$api_port"
token=$("$bin" token --sub smoke-alice --email alice@example.com --group experts)

status=$(curl -s -o /dev/null -w '%{http_code}' "$base/v1/experts/me")
[ "$status" = 401 ] || fail "GET /v1/experts/me without a token answered $status, not 401"

created=$(curl -sf -X PUT "$base/v1/experts/me" -H "Authorization: Bearer $token" \
  -H 'Content-Type: application/json' \
  -d '{"display_name":"Alice","specializations":["Tax"],"hourly_rate":{"amount":12000,"currency":"eur"},"time_zone":"Europe/Berlin"}') ||
  fail "PUT /v1/experts/me failed"
id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$created")
public=$(curl -sf "$base/v1/experts/$id") || fail "GET /v1/experts/$id failed"
python3 - "$public" <<'PY' || fail "the profile read back differs: $public"
import json, sys
p = json.loads(sys.argv[1])
assert p["display_name"] == "Alice", p
assert p["hourly_rate"] == {"amount": 12000, "currency": "eur"}, p
assert p["specializations"] == ["tax"], p
PY
# Seeding runs once the server listens (the Stripe test server's webhooks need it): wait for it.
for _ in $(seq 1 150); do
  [ "$(grep -c "seeded demo expert" "$log")" -ge 3 ] && break
  sleep 0.2
done
[ "$(grep -c "seeded demo expert" "$log")" -ge 3 ] || fail "--seed did not seed the 3 demo experts"
# The demo experts went through payouts onboarding on the Stripe test server (webhooks
# included), so search lists them.
listed=$(curl -sf "$base/v1/experts") || fail "GET /v1/experts failed"
count=$(python3 -c 'import json,sys; print(len(json.load(sys.stdin)["results"]))' <<<"$listed")
[ "$count" = 3 ] || fail "search lists $count experts, not the 3 seeded ones: $listed"

# Ada's demo calendar: two events in Radicale, connected, and her profile says so.
for _ in $(seq 1 150); do
  grep -q "seeded demo calendar" "$log" && break
  sleep 0.2
done
grep -q "seeded demo calendar" "$log" || fail "--seed did not connect Ada's demo calendar"
events=$(curl -sf -u demo:demo -X PROPFIND -H 'Depth: 1' "http://127.0.0.1:$radicale_port/demo/work/" | grep -o '\.ics</' | wc -l)
[ "$events" = 2 ] || fail "the demo calendar holds $events events, not 2"
ada=$(python3 -c 'import json,sys; print([e["id"] for e in json.load(sys.stdin)["results"] if e["display_name"] == "Ada Byron"][0])' <<<"$listed")
connected=$(curl -sf "$base/v1/experts/$ada" | python3 -c 'import json,sys; print(json.load(sys.stdin)["calendar_connected"])')
[ "$connected" = True ] || fail "Ada's profile says calendar_connected=$connected"

# A client books the first free hour of a seeded expert and pays as the README shows (curl
# with the test card against the Stripe test server); the webhook confirms the appointment.
stripe="http://127.0.0.1:$stripe_port"
client=$("$bin" token --sub smoke-bob --email bob@example.com --group clients)
expert_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["results"][0]["id"])' <<<"$listed")
slots=$(curl -sf "$base/v1/experts/$expert_id/slots?duration=60&from=$(date -u -d '+8 days' +%Y-%m-%dT00:00:00Z)&to=$(date -u -d '+15 days' +%Y-%m-%dT00:00:00Z)") ||
  fail "GET slots failed"
start=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["slots"][0]["start"])' <<<"$slots") ||
  fail "no free slot: $slots"
booked=$(curl -sf -X POST "$base/v1/appointments" -H "Authorization: Bearer $client" \
  -H 'Idempotency-Key: smoke-1' -H 'Content-Type: application/json' \
  -d "{\"expert_id\":\"$expert_id\",\"start\":\"$start\",\"duration_minutes\":60}") ||
  fail "POST /v1/appointments failed"
appointment=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])' <<<"$booked")
secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["payment_client_secret"])' <<<"$booked")
curl -sf -X POST "$stripe/v1/payment_intents/${secret%%_secret_*}/confirm" -u sk_test_local: \
  -d payment_method=pm_card_visa >/dev/null || fail "confirming the PaymentIntent failed"
curl -sf -X POST "$stripe/_test/settle" || fail "the webhooks did not settle"
status=$(curl -sf "$base/v1/appointments/$appointment" -H "Authorization: Bearer $client" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
[ "$status" = confirmed ] || fail "the appointment is $status after payment, not confirmed"

# Radicale answers the README's curl for the demo account's principal.
principal=$(curl -sf -u demo:demo -X PROPFIND -H 'Depth: 0' "http://127.0.0.1:$radicale_port/" \
  --data '<propfind xmlns="DAV:"><prop><current-user-principal/></prop></propfind>') ||
  fail "Radicale did not answer PROPFIND"
grep -q '<href>/demo/</href>' <<<"$principal" || fail "Radicale's principal for demo: $principal"

# The Google connect flow as a browser goes through it: our consent URL, the provider test
# server's auto-consent, our callback, the frontend with the new connection.
consent=$(curl -sf -X POST "$base/v1/experts/me/calendars/google/authorize" -H "Authorization: Bearer $token" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["authorization_url"])') ||
  fail "POST /v1/experts/me/calendars/google/authorize failed"
callback=$(curl -s -o /dev/null -w '%{redirect_url}' "$consent")
case "$callback" in "$base/v1/oauth/google/callback?"*) ;; *) fail "consent sent the browser to $callback" ;; esac
frontend=$(curl -s -o /dev/null -w '%{redirect_url}' "$callback")
case "$frontend" in *status=connected*) ;; *) fail "the callback sent the browser to $frontend" ;; esac
providers=$(curl -sf "$base/v1/experts/me/calendars" -H "Authorization: Bearer $token" |
  python3 -c 'import json,sys; print(",".join(c["provider"] for c in json.load(sys.stdin)["connections"]))')
[ "$providers" = google ] || fail "Alice's connections after the flow: $providers"

stop
trap - EXIT
for port in "$api_port" "$moto_port" "$stripe_port" "$radicale_port" "$providers_port"; do
  if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1])), 1)" "$port" 2>/dev/null; then
    fail "port $port still answers after the stack was stopped"
  fi
done
echo "smoke: 9 passed, 0 failed"
