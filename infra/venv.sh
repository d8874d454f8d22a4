#!/usr/bin/env bash
# Creates (or reuses) the venv holding the local stack's Python tools and prints its path.
# The venv lives outside the clone so reruns on the same machine skip the install; a stamp
# holding the requirements' hash makes a changed requirements.txt reinstall.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
venv=${LOCAL_STACK_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/expert-marketplace/venv}
want=$(sha256sum "$here/requirements.txt" | cut -d' ' -f1)
if [ "$(cat "$venv/.requirements-sha256" 2>/dev/null)" != "$want" ]; then
  echo "installing the local stack's Python tools into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  echo "$want" >"$venv/.requirements-sha256"
fi
echo "$venv"
