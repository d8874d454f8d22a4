# Sourced by the local stack's scripts: starts and stops Radicale, the local CalDAV server (the
# protocol of Apple iCloud, Fastmail, Nextcloud), on 127.0.0.1 with htpasswd accounts in a
# throwaway folder, and exports where it is.
#
# RADICALE_URL    the server's root, e.g. http://127.0.0.1:5232/
# RADICALE_USERS  its htpasswd file (plain text "user:password" lines; Radicale reads it at
#                 each login, so tests add an account of their own by appending a line)

# radicale_start VENV PORT DIR: sets RADICALE_PID.
radicale_start() {
  local venv=$1 port=$2 dir=$3
  mkdir -p "$dir/collections"
  touch "$dir/users"
  cat >"$dir/config" <<CONF
[server]
hosts = 127.0.0.1:$port
[auth]
type = htpasswd
htpasswd_filename = $dir/users
htpasswd_encryption = plain
[storage]
filesystem_folder = $dir/collections
[rights]
type = owner_only
[logging]
level = warning
CONF
  "$venv/bin/python" -m radicale --config "$dir/config" >"$dir/log" 2>&1 &
  RADICALE_PID=$!
  wait_for_http "http://127.0.0.1:$port/" "$RADICALE_PID" "Radicale (log: $dir/log)"
  export RADICALE_URL="http://127.0.0.1:$port/" RADICALE_USERS="$dir/users"
}

radicale_stop() {
  if [ -n "${RADICALE_PID:-}" ]; then
    kill "$RADICALE_PID" 2>/dev/null || true
    wait "$RADICALE_PID" 2>/dev/null || true
    RADICALE_PID=
  fi
}
