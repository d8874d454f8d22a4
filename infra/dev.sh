#!/usr/bin/env bash
# The local stack: moto on 127.0.0.1:${MOTO_PORT:-5050}, the table created from template.yaml,
# Radicale (CalDAV) on 127.0.0.1:${RADICALE_PORT:-5232} with the account demo:demo, and the dev
# server on 127.0.0.1:${DEV_SERVER_PORT:-3000}. Ctrl-C stops all of it.
# usage: infra/dev.sh [--seed] [--port N]
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
source infra/emulator.sh
source infra/radicale.sh
venv=$(infra/venv.sh)
log=${TMPDIR:-/tmp}/expert-marketplace-moto.log
radicale_dir=$(mktemp -d)
trap 'emulator_stop; radicale_stop; rm -rf "$radicale_dir"' EXIT
trap 'exit 130' INT TERM
emulator_start "$venv" "${MOTO_PORT:-5050}" "$log"
echo "moto on $AWS_ENDPOINT_URL (log: $log)" >&2
radicale_start "$venv" "${RADICALE_PORT:-5232}" "$radicale_dir"
echo "demo:demo" >>"$RADICALE_USERS"
echo "Radicale on $RADICALE_URL (user demo, password demo; log: $radicale_dir/log)" >&2
export TABLE_NAME=${TABLE_NAME:-expert-marketplace-local}
cargo build --quiet -p local-stack
"${CARGO_TARGET_DIR:-$root/target}/debug/local-stack" serve "$@"
