#!/usr/bin/env bash
# Serves moto (AWS mock) on 127.0.0.1:PORT for the elb integration tests, until
# its standard input closes: the test process holds that pipe, so moto goes away
# with it even when the tests are killed. Install: pip install 'moto[server]'.
set -euo pipefail

port="${1:?usage: scripts/moto.sh PORT   (serves until stdin closes)}"

if command -v moto_server >/dev/null 2>&1; then
    server=(moto_server)
elif python3 -c 'import moto.server' >/dev/null 2>&1; then
    server=(python3 -m moto.server)
else
    echo "moto is not installed: pip install 'moto[server]'" >&2
    exit 3
fi

"${server[@]}" -H 127.0.0.1 -p "$port" >&2 &
moto_pid=$!
trap 'kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true' EXIT
# Being killed (Ctrl-C, kill %1) also stops moto: turn the signal into an exit.
trap 'exit 143' TERM INT HUP

# Wait for whichever comes first: stdin closing, or moto exiting by itself.
exec 3<&0
cat <&3 >/dev/null &
stdin_pid=$!
status=0
wait -n "$moto_pid" "$stdin_pid" || status=$?
kill "$stdin_pid" 2>/dev/null || true
exit "$status"
