# Sourced by the local stack's scripts: starts and stops moto in server mode on 127.0.0.1
# (through infra/moto_server.py, which applies DynamoDB requests one at a time, as DynamoDB does)
# and exports the AWS settings that point every SDK client at it.

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for_http() { # url pid what: waits until url answers, failing early if pid exits
  local url=$1 pid=$2 what=$3
  for _ in $(seq 1 150); do
    # Any HTTP answer, error statuses included, means the server is up.
    if python3 -c "
import sys, urllib.error, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=1)
except urllib.error.HTTPError:
    pass
" "$url" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "$what exited during start-up" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "$what did not answer at $url within 30 s" >&2
  return 1
}

# emulator_start VENV PORT LOG: starts moto and exports AWS_* for it; sets EMULATOR_PID.
emulator_start() {
  local venv=$1 port=$2 log=$3
  "$venv/bin/python" "$(dirname "${BASH_SOURCE[0]}")/moto_server.py" 127.0.0.1 "$port" >"$log" 2>&1 &
  EMULATOR_PID=$!
  wait_for_http "http://127.0.0.1:$port/moto-api/" "$EMULATOR_PID" "moto (log: $log)"
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
  unset AWS_PROFILE
}

emulator_stop() {
  if [ -n "${EMULATOR_PID:-}" ]; then
    kill "$EMULATOR_PID" 2>/dev/null || true
    wait "$EMULATOR_PID" 2>/dev/null || true
    EMULATOR_PID=
  fi
}
