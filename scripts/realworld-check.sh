#!/usr/bin/env bash
# Robustness check on manifests nobody here wrote: Kubernetes' own addons and
# e2e test manifests (from the Debian source package scripts/build-k8s.sh
# fetched) are applied to a fresh cluster A; whatever the 1.20 API server
# accepts must then be planned (all namespaces, kube-system included), and
# nothing else may be. Exits non-zero on any difference.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/build-k8s.sh >/dev/null
SRC=$(find "${XDG_CACHE_HOME:-$HOME/.cache}/abshift" -maxdepth 2 -type d -name 'kubernetes-*' | head -n1)
[[ -d "$SRC" ]] || { echo "Kubernetes source not found; run scripts/build-k8s.sh" >&2; exit 1; }
cargo build --locked --quiet
WORK=$ROOT/target/realworld
export ABSHIFT_TESTENV=$WORK/env
bash scripts/testenv.sh down >/dev/null 2>&1 || true
ABSHIFT_TESTENV_OWNER_PID=$$ bash scripts/testenv.sh up
export KUBECONFIG=$ABSHIFT_TESTENV/kubeconfig
: >"$WORK/applied.txt"
mapfile -t files < <(cd "$SRC" && find cluster/addons test/e2e/testing-manifests \( -name '*.yaml' -o -name '*.json' \) | sort)
# Two passes: the second picks up objects whose CRD or namespace came later.
for pass in 1 2; do
  for f in "${files[@]}"; do
    timeout 20 kubectl --context paas-a apply --server-side --force-conflicts -f "$SRC/$f" -o name 2>/dev/null >>"$WORK/applied.txt" || true
  done
done
"$ROOT/target/debug/abshift" migrate plan --from paas-a --to paas-b -o "$WORK/all.json" 2>/dev/null
"$ROOT/target/debug/abshift" migrate plan --from paas-a --to paas-b -n kube-system -o "$WORK/kube-system.json" 2>/dev/null
python3 - "$WORK" <<'PY'
import json, sys
work = sys.argv[1]
applied = set()
for line in open(f"{work}/applied.txt"):
    line = line.strip()
    if line:
        kind_group, name = line.split("/", 1)
        applied.add((kind_group.split(".")[0].lower(), name))
planned = set()
for f in ("all.json", "kube-system.json"):
    for o in json.load(open(f"{work}/{f}"))["objects"]:
        planned.add((o["kind"].lower(), o["name"]))
testenv = {("clusterrole", "abshift:readonly"), ("clusterrolebinding", "abshift:readonly")}
missing = sorted(applied - planned)
extra = sorted(planned - applied - testenv)
print(f"{len(applied)} objects accepted by the API server from the addon and e2e manifests; {len(planned)} planned")
for m in missing: print("  not planned:", m)
for e in extra: print("  planned but never applied (generated?):", e)
sys.exit(1 if missing or extra else 0)
PY
