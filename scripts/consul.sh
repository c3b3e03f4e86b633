#!/usr/bin/env bash
# Two throwaway Consul servers on loopback (datacenters dc-a and dc-b), for the
# demo and the sync benchmark; the binary comes from scripts/build-consul.sh.
#   scripts/consul.sh up DIR     start A and B (data, logs, pids under DIR), wait for leaders
#   scripts/consul.sh down DIR   stop them (only the processes whose pids are in DIR)
# HTTP ports: CONSUL_A_PORT (default 28500) and CONSUL_B_PORT (28600); each
# server's serf and server ports are its HTTP port +1..+3. WAN=1 joins the two
# datacenters over the WAN (what consul-replicate needs).
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 up|down DIR" >&2; exit 2; }
a_port=${CONSUL_A_PORT:-28500}
b_port=${CONSUL_B_PORT:-28600}
here=$(cd "$(dirname "$0")" && pwd)

start_one() { # name datacenter http_port
  local name=$1 dc=$2 p=$3
  mkdir -p "$dir/$name"
  "$CONSUL" agent -server -bootstrap-expect 1 -node "node-$dc" -datacenter "$dc" \
    -data-dir "$dir/$name/data" -bind 127.0.0.1 -client 127.0.0.1 -advertise 127.0.0.1 \
    -hcl "ports { http = $p, dns = -1, grpc = -1, grpc_tls = -1, serf_lan = $((p + 1)), serf_wan = $((p + 2)), server = $((p + 3)) }" \
    -hcl 'performance { raft_multiplier = 1 }' -log-level warn \
    >"$dir/$name/consul.log" 2>&1 &
  echo $! >"$dir/$name/pid"
}

wait_leader() { # port
  local deadline=$(( $(date +%s) + 60 ))
  until curl -sf "http://127.0.0.1:$1/v1/status/leader" | grep -q ':'; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "consul on 127.0.0.1:$1 has no leader after 60s (see $dir/*/consul.log)" >&2
      return 1
    fi
    sleep 0.2
  done
}

case "$cmd" in
  up)
    CONSUL="$(bash "$here/build-consul.sh")/consul"
    start_one a dc-a "$a_port"
    start_one b dc-b "$b_port"
    wait_leader "$a_port" && wait_leader "$b_port" || { "$0" down "$dir"; exit 1; }
    if [ "${WAN:-0}" = 1 ]; then
      "$CONSUL" join -wan -http-addr "http://127.0.0.1:$b_port" "127.0.0.1:$((a_port + 2))" >/dev/null
    fi
    echo "A: http://127.0.0.1:$a_port  B: http://127.0.0.1:$b_port"
    ;;
  down)
    for name in a b; do
      if [ -f "$dir/$name/pid" ]; then
        pid=$(cat "$dir/$name/pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
        rm -f "$dir/$name/pid"
      fi
    done
    ;;
  *) echo "usage: $0 up|down DIR" >&2; exit 2 ;;
esac
