#!/usr/bin/env bash
# Two throwaway etcd servers on loopback, for the sync demo and benchmark.
#   scripts/etcd.sh up DIR     start A and B (data, logs and pids under DIR), wait until healthy
#   scripts/etcd.sh down DIR   stop them (only the processes whose pids are in DIR)
# Ports: ETCD_A_PORT (default 23790) and ETCD_B_PORT (23791); peer ports are those +100.
set -euo pipefail

cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 up|down DIR" >&2; exit 2; }
a_port=${ETCD_A_PORT:-23790}
b_port=${ETCD_B_PORT:-23791}

start_one() { # name client_port
  local name=$1 port=$2 peer=$(( $2 + 100 ))
  mkdir -p "$dir/$name"
  etcd --name "$name" --data-dir "$dir/$name/data" \
    --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "$name=http://127.0.0.1:$peer" --initial-cluster-state new \
    --quota-backend-bytes $((4 * 1024 * 1024 * 1024)) \
    >"$dir/$name/etcd.log" 2>&1 &
  echo $! >"$dir/$name/pid"
}

wait_healthy() { # port
  local deadline=$(( $(date +%s) + 30 ))
  until ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$1" --command-timeout=1s endpoint health >/dev/null 2>&1; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "etcd on 127.0.0.1:$1 did not become healthy within 30s (see $dir/*/etcd.log)" >&2
      return 1
    fi
    sleep 0.2
  done
}

case "$cmd" in
  up)
    command -v etcd >/dev/null || { echo "etcd not found: apt-get install -y etcd-server etcd-client" >&2; exit 1; }
    start_one a "$a_port"
    start_one b "$b_port"
    wait_healthy "$a_port" && wait_healthy "$b_port" || { "$0" down "$dir"; exit 1; }
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
