#!/usr/bin/env bash
# Two real Kubernetes control planes on loopback (etcd + kube-apiserver +
# kube-controller-manager each), for tests and the demo. No nodes, no kubelet:
# controllers still create their objects (ReplicaSets, Pods, Endpoints, tokens;
# from 1.24 on, ServiceAccount token Secrets only when one is created by hand).
#
#   scripts/testenv.sh up [A=<ver>] [B=<ver>]
#                              start paas-a and paas-b (builds the binaries once
#                              per version); an env already running at other
#                              versions is restarted, one at the same is reused
#   scripts/testenv.sh down    stop them (by recorded pid) and remove state
#   scripts/testenv.sh status  exit 0 when both answer /readyz
#
# Kubernetes version per side: ABSHIFT_A_VERSION / ABSHIFT_B_VERSION, or the
# A=/B= words after `up` (they win); default 1.20.2 for both. Binaries come
# from `K8S_VERSION=<ver> scripts/build-k8s.sh`; etcd is Debian's 3.4 for old
# versions and scripts/build-etcd.sh's 3.5 for new ones (see etcd_for). Each
# side's version is recorded in $ABSHIFT_TESTENV/<cluster>/version.
#
# State lives in $ABSHIFT_TESTENV (default: <repo>/.testenv). The kubeconfig
# there has contexts paas-a, paas-b (admin) and paas-a-readonly, paas-b-readonly
# (get/list/watch only). Ports are free ports chosen at start; all on 127.0.0.1.
# With ABSHIFT_TESTENV_OWNER_PID set, a watcher tears everything down when that
# process exits (tests use it so clusters never outlive the test run).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
ENV_DIR="${ABSHIFT_TESTENV:-$ROOT/.testenv}"
CLUSTERS=(paas-a paas-b)
DEFAULT_VERSION=1.20.2
# Requested Kubernetes version per cluster (set in cmd_up).
declare -A WANT=()
READY_TIMEOUT="${ABSHIFT_TESTENV_TIMEOUT:-120}"

log() { echo "[testenv] $*" >&2; }
die() { echo "[testenv] error: $*" >&2; exit 1; }

# A free loopback port below the kernel's ephemeral range: the port is
# found seconds before the server binds it, and in between an outgoing
# connection (source ports come from that range) could take one from it.
free_port() {
  python3 - <<'PY'
import random, socket
try:
    low = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
except (OSError, ValueError, IndexError):
    low = 32768
for _ in range(200):
    port = random.randrange(10000, max(low, 10001))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()
PY
}

# Polls a command until it succeeds or the deadline passes.
wait_for() {
  local what=$1 deadline=$(( $(date +%s) + $2 )); shift 2
  until "$@" >/dev/null 2>&1; do
    if (( $(date +%s) >= deadline )); then return 1; fi
    sleep 0.2
  done
  log "$what ready"
}

# Minor number of a "1.N.P" version.
minor_of() { local rest=${1#*.}; echo "${rest%%.*}"; }

# The etcd binary for a Kubernetes version. Debian's etcd (3.4.23) is what the
# 1.20 side has always run on, so old versions keep it. Newer apiservers ask
# etcd for watch progress (WatchList, from 1.27; consistent lists from the watch
# cache, on by default since 1.31) and gate that on etcd 3.4.31+/3.5.13+: a 1.34
# apiserver on 3.4.23 starts but logs "RequestWatchProgress feature is not
# supported" and runs degraded, unlike any real 1.34 cluster (those run 3.5+;
# kubeadm has shipped 3.5 since 1.22). So from 1.27 on use the etcd 3.5 that
# scripts/build-etcd.sh builds and caches.
etcd_for() {
  if (( $(minor_of "$1") >= 27 )); then
    local dir
    dir=$("$ROOT/scripts/build-etcd.sh") || return 1
    echo "$dir/etcd"
  else
    command -v etcd || { log "etcd not installed (apt-get install etcd-server)"; return 1; }
  fi
}

# kube-apiserver flags that depend on the version, one per line.
apiserver_version_flags() {
  local minor; minor=$(minor_of "$1")
  # Up to 1.23 the unauthenticated HTTP port defaults to 127.0.0.1:8080 (both
  # clusters would collide on it); 0 turns it off. The flag is gone in 1.24.
  if (( minor < 24 )); then echo --insecure-port=0; fi
}

# kube-controller-manager flags that depend on the version, one per line.
controller_manager_version_flags() {
  local minor off; minor=$(minor_of "$1")
  # Up to 1.23 the unauthenticated HTTP port defaults to 10252 (both clusters
  # would collide on it); 0 turns it off. The flag is gone in 1.24.
  if (( minor < 24 )); then echo --port=0; fi
  # Controllers that need nodes or a cloud provider are off; everything else
  # (deployments, replicasets, endpoints, service accounts, tokens, GC, ...)
  # runs. An unknown name in --controllers is a fatal flag error, so the list
  # must match the version.
  if (( minor < 28 )); then
    off=nodeipam,nodelifecycle,cloud-node-lifecycle,service,route,attachdetach
    off+=,persistentvolume-binder,persistentvolume-expander
  else
    # 1.28 renamed controllers to "<thing>-controller" (old names survive as
    # aliases): service -> service-lb-controller, route -> node-route-controller,
    # attachdetach -> persistentvolume-attach-detach-controller, ...
    off=node-ipam-controller,node-lifecycle-controller,cloud-node-lifecycle-controller
    off+=,service-lb-controller,node-route-controller,persistentvolume-attach-detach-controller
    off+=,persistentvolume-binder-controller,persistentvolume-expander-controller
    # 1.29 split taint-based eviction out of node-lifecycle into its own
    # controller (it was off with node-lifecycle before; keep it off).
    if (( minor >= 29 )); then off+=,taint-eviction-controller; fi
  fi
  echo "--controllers=*,-${off//,/,-}"
}

stop_all() {
  [[ -d "$ENV_DIR" ]] || return 0
  local pidfile pid
  for pidfile in "$ENV_DIR"/*/*.pid; do
    [[ -f "$pidfile" ]] || continue
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null; then kill "$pid" 2>/dev/null || true; fi
  done
  for pidfile in "$ENV_DIR"/*/*.pid; do
    [[ -f "$pidfile" ]] || continue
    pid=$(cat "$pidfile")
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pidfile"
  done
}

make_certs() {
  local dir=$1
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=abshift-test-ca" \
    -keyout "$dir/ca.key" -out "$dir/ca.crt" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
    -keyout "$dir/apiserver.key" -out "$dir/apiserver.csr" 2>/dev/null
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' >"$dir/ext.cnf"
  openssl x509 -req -in "$dir/apiserver.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" \
    -CAcreateserial -days 3650 -out "$dir/apiserver.crt" -extfile "$dir/ext.cnf" 2>/dev/null
  openssl genrsa -out "$dir/sa.key" 2048 2>/dev/null
  openssl rsa -in "$dir/sa.key" -pubout -out "$dir/sa.pub" 2>/dev/null
}

start_cluster() {
  local name=$1 version=$2 bin=$3 etcd_bin=$4 dir="$ENV_DIR/$1"
  mkdir -p "$dir/etcd" "$dir/certs"
  echo "$version" >"$dir/version"
  make_certs "$dir/certs"
  local etcd_port etcd_peer
  etcd_port=$(free_port); etcd_peer=$(free_port)
  echo "$etcd_port" >"$dir/etcd.port"
  local admin_token ro_token
  admin_token=$(openssl rand -hex 16); ro_token=$(openssl rand -hex 16)
  printf '%s,admin,admin,system:masters\n%s,readonly,readonly,abshift:readonly\n' \
    "$admin_token" "$ro_token" >"$dir/tokens.csv"

  "$etcd_bin" --name "$name" --data-dir "$dir/etcd" \
    --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
    --listen-peer-urls "http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer" \
    --initial-cluster "$name=http://127.0.0.1:$etcd_peer" \
    --quota-backend-bytes 4294967296 --snapshot-count 100000 \
    >"$dir/etcd.log" 2>&1 &
  echo $! >"$dir/etcd.pid"
  wait_for "$name etcd" 30 curl -sf "http://127.0.0.1:$etcd_port/health" || die "$name: etcd did not become healthy (see $dir/etcd.log)"
  echo "$admin_token" >"$dir/admin.token"
  echo "$ro_token" >"$dir/readonly.token"
  start_apiserver "$name" "$version" "$bin"
}

# Starts a cluster's kube-apiserver on a free port, against its running etcd.
start_apiserver() {
  local name=$1 version=$2 bin=$3 dir="$ENV_DIR/$1" api_port etcd_port
  api_port=$(free_port); etcd_port=$(cat "$dir/etcd.port")
  # Service and pod addresses are never dialled by tests (no nodes); the
  # service range sits in loopback so that even an accidental dial stays local.
  local version_flags
  mapfile -t version_flags < <(apiserver_version_flags "$version")
  "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$etcd_port" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
    --secure-port "$api_port" \
    --cert-dir "$dir/certs" --tls-cert-file "$dir/certs/apiserver.crt" --tls-private-key-file "$dir/certs/apiserver.key" \
    --client-ca-file "$dir/certs/ca.crt" \
    --service-account-issuer "https://$name.abshift.test" \
    --service-account-key-file "$dir/certs/sa.pub" \
    --service-account-signing-key-file "$dir/certs/sa.key" \
    --token-auth-file "$dir/tokens.csv" \
    --authorization-mode RBAC \
    --service-cluster-ip-range 127.100.0.0/16 \
    --service-node-port-range 30000-32767 \
    --enable-aggregator-routing=true \
    --allow-privileged=true \
    --max-requests-inflight 800 --max-mutating-requests-inflight 400 \
    --profiling=false \
    "${version_flags[@]}" \
    >"$dir/apiserver.log" 2>&1 &
  echo $! >"$dir/apiserver.pid"
  echo "$api_port" >"$dir/api.port"
}

# Ready, or its process gone or unable to listen (kube-apiserver retries its
# listen for a minute): a failed start is seen at once, not after the timeout.
ready_or_exited() {
  readyz "$1" || ! kill -0 "$(cat "$ENV_DIR/$1/apiserver.pid")" 2>/dev/null \
    || grep -q "address already in use" "$ENV_DIR/$1/apiserver.log"
}

write_kubeconfig() {
  local kc="$ENV_DIR/kubeconfig.tmp" name ca port
  {
    echo "apiVersion: v1"
    echo "kind: Config"
    echo "current-context: paas-a"
    echo "clusters:"
    for name in "${CLUSTERS[@]}"; do
      ca=$(base64 -w0 <"$ENV_DIR/$name/certs/ca.crt"); port=$(cat "$ENV_DIR/$name/api.port")
      echo "- name: $name"
      echo "  cluster:"
      echo "    server: https://127.0.0.1:$port"
      echo "    certificate-authority-data: $ca"
    done
    echo "users:"
    for name in "${CLUSTERS[@]}"; do
      echo "- name: $name-admin"
      echo "  user:"
      echo "    token: $(cat "$ENV_DIR/$name/admin.token")"
      echo "- name: $name-readonly"
      echo "  user:"
      echo "    token: $(cat "$ENV_DIR/$name/readonly.token")"
    done
    echo "contexts:"
    for name in "${CLUSTERS[@]}"; do
      echo "- name: $name"
      echo "  context: {cluster: $name, user: $name-admin}"
      echo "- name: $name-readonly"
      echo "  context: {cluster: $name, user: $name-readonly}"
    done
  } >"$kc"
  chmod 600 "$kc"
  mv "$kc" "$ENV_DIR/kubeconfig"
}

readyz() {
  local name=$1 port
  port=$(cat "$ENV_DIR/$name/api.port")
  curl -sf --cacert "$ENV_DIR/$name/certs/ca.crt" \
    -H "Authorization: Bearer $(cat "$ENV_DIR/$name/admin.token")" \
    "https://127.0.0.1:$port/readyz" >/dev/null
}

# Grants the readonly user get/list/watch on everything, and nothing else.
apply_readonly_rbac() {
  local name=$1 port token
  port=$(cat "$ENV_DIR/$name/api.port"); token=$(cat "$ENV_DIR/$name/admin.token")
  local api="https://127.0.0.1:$port"
  local curl_opts=(-sf --cacert "$ENV_DIR/$name/certs/ca.crt" -H "Authorization: Bearer $token" -H "Content-Type: application/json")
  curl "${curl_opts[@]}" -X POST "$api/apis/rbac.authorization.k8s.io/v1/clusterroles" -d '{
    "apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRole","metadata":{"name":"abshift:readonly"},
    "rules":[{"apiGroups":["*"],"resources":["*"],"verbs":["get","list","watch"]},
             {"nonResourceURLs":["*"],"verbs":["get"]}]}' >/dev/null
  curl "${curl_opts[@]}" -X POST "$api/apis/rbac.authorization.k8s.io/v1/clusterrolebindings" -d '{
    "apiVersion":"rbac.authorization.k8s.io/v1","kind":"ClusterRoleBinding","metadata":{"name":"abshift:readonly"},
    "roleRef":{"apiGroup":"rbac.authorization.k8s.io","kind":"ClusterRole","name":"abshift:readonly"},
    "subjects":[{"kind":"Group","apiGroup":"rbac.authorization.k8s.io","name":"abshift:readonly"}]}' >/dev/null
}

start_controller_manager() {
  local name=$1 version=$2 bin=$3 dir="$ENV_DIR/$1"
  local kc="$dir/controller-manager.kubeconfig" port
  port=$(cat "$dir/api.port")
  cat >"$kc" <<KC
apiVersion: v1
kind: Config
current-context: cm
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:$port", certificate-authority: "$dir/certs/ca.crt"}
users:
- name: u
  user: {token: "$(cat "$dir/admin.token")"}
contexts:
- name: cm
  context: {cluster: c, user: u}
KC
  local version_flags
  mapfile -t version_flags < <(controller_manager_version_flags "$version")
  "$bin/kube-controller-manager" \
    --kubeconfig "$kc" \
    --service-account-private-key-file "$dir/certs/sa.key" \
    --root-ca-file "$dir/certs/ca.crt" \
    --use-service-account-credentials=false \
    --leader-elect=false --secure-port 0 \
    --profiling=false \
    "${version_flags[@]}" \
    >"$dir/controller-manager.log" 2>&1 &
  echo $! >"$dir/controller-manager.pid"
}

# The versions the running env was started with match the requested ones.
versions_match() {
  local name
  for name in "${CLUSTERS[@]}"; do
    [[ "$(cat "$ENV_DIR/$name/version" 2>/dev/null)" == "${WANT[$name]}" ]] || return 1
  done
}

stop_watcher() {
  if [[ -f "$ENV_DIR/watcher.pid.keep" ]]; then
    local w; w=$(cat "$ENV_DIR/watcher.pid.keep")
    if [[ "$w" != "$$" ]]; then kill "$w" 2>/dev/null || true; fi
  fi
}

cmd_up() {
  command -v curl >/dev/null || die "curl not installed"
  WANT[paas-a]=${ABSHIFT_A_VERSION:-$DEFAULT_VERSION}
  WANT[paas-b]=${ABSHIFT_B_VERSION:-$DEFAULT_VERSION}
  local arg
  for arg in "$@"; do
    case "$arg" in
      A=*) WANT[paas-a]=${arg#A=} ;;
      B=*) WANT[paas-b]=${arg#B=} ;;
      *) die "unknown argument '$arg' (usage: $0 up [A=<version>] [B=<version>])" ;;
    esac
  done
  local name
  for name in "${CLUSTERS[@]}"; do
    WANT[$name]=${WANT[$name]#v}
    [[ "${WANT[$name]}" =~ ^1\.[0-9]+\.[0-9]+$ ]] || die "$name: version '${WANT[$name]}' is not of the form 1.N.P"
  done
  # Binaries first (a build can take minutes; a running env stays up meanwhile).
  declare -A bin=() etcd_bin=()
  for name in "${CLUSTERS[@]}"; do
    bin[$name]=$(K8S_VERSION="${WANT[$name]}" "$ROOT/scripts/build-k8s.sh") \
      || die "$name: could not build Kubernetes ${WANT[$name]}"
    etcd_bin[$name]=$(etcd_for "${WANT[$name]}") || die "$name: no etcd for Kubernetes ${WANT[$name]}"
  done
  if [[ -f "$ENV_DIR/kubeconfig" ]] && cmd_status 2>/dev/null; then
    if versions_match; then
      log "already running ($ENV_DIR/kubeconfig, paas-a ${WANT[paas-a]}, paas-b ${WANT[paas-b]})"
      return 0
    fi
    log "running with other versions (paas-a $(cat "$ENV_DIR/paas-a/version" 2>/dev/null || echo '?'), paas-b $(cat "$ENV_DIR/paas-b/version" 2>/dev/null || echo '?')): restarting"
  fi
  stop_watcher
  stop_all
  rm -rf "$ENV_DIR"
  mkdir -p "$ENV_DIR"
  for name in "${CLUSTERS[@]}"; do
    log "$name: Kubernetes ${WANT[$name]}, $("${etcd_bin[$name]}" --version | head -n1)"
    start_cluster "$name" "${WANT[$name]}" "${bin[$name]}" "${etcd_bin[$name]}"
  done
  for name in "${CLUSTERS[@]}"; do
    # The free port is found before kube-apiserver binds it, seconds later;
    # on a busy machine an outgoing connection can take it in between.
    local tries=0 deadline
    while :; do
      deadline=$(( $(date +%s) + READY_TIMEOUT ))
      until ready_or_exited "$name" >/dev/null 2>&1 || (( $(date +%s) >= deadline )); do sleep 0.2; done
      if readyz "$name"; then log "$name apiserver ready"; break; fi
      if grep -q "address already in use" "$ENV_DIR/$name/apiserver.log" && (( ++tries < 3 )); then
        log "$name: its port was taken before kube-apiserver bound it; starting it on another"
        kill "$(cat "$ENV_DIR/$name/apiserver.pid")" 2>/dev/null || true
        start_apiserver "$name" "${WANT[$name]}" "${bin[$name]}"
        continue
      fi
      tail -n 20 "$ENV_DIR/$name/apiserver.log" >&2
      stop_all
      die "$name: kube-apiserver not ready within ${READY_TIMEOUT}s (log: $ENV_DIR/$name/apiserver.log)"
    done
    apply_readonly_rbac "$name"
    start_controller_manager "$name" "${WANT[$name]}" "${bin[$name]}"
  done
  write_kubeconfig
  if [[ -n "${ABSHIFT_TESTENV_OWNER_PID:-}" ]]; then
    ABSHIFT_TESTENV="$ENV_DIR" nohup bash -c \
      "while kill -0 $ABSHIFT_TESTENV_OWNER_PID 2>/dev/null; do sleep 1; done; exec '$ROOT/scripts/testenv.sh' down" \
      >/dev/null 2>&1 </dev/null &
    echo $! >"$ENV_DIR/watcher.pid.keep"
  fi
  log "up: export KUBECONFIG=$ENV_DIR/kubeconfig (contexts paas-a, paas-b, paas-a-readonly, paas-b-readonly; paas-a ${WANT[paas-a]}, paas-b ${WANT[paas-b]})"
}

cmd_status() {
  [[ -f "$ENV_DIR/kubeconfig" ]] || return 1
  local name
  for name in "${CLUSTERS[@]}"; do
    for proc in etcd apiserver controller-manager; do
      kill -0 "$(cat "$ENV_DIR/$name/$proc.pid" 2>/dev/null || echo 0)" 2>/dev/null || return 1
    done
    readyz "$name" || return 1
  done
}

case "${1:-}" in
  up) shift; cmd_up "$@" ;;
  down) stop_watcher; stop_all; rm -rf "$ENV_DIR"; log "down" ;;
  status)
    cmd_status && log "both clusters ready (paas-a $(cat "$ENV_DIR/paas-a/version" 2>/dev/null || echo '?'), paas-b $(cat "$ENV_DIR/paas-b/version" 2>/dev/null || echo '?'))" ;;
  *) echo "usage: $0 up [A=<version>] [B=<version>] | down | status" >&2; exit 2 ;;
esac
