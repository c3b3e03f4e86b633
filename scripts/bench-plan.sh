#!/usr/bin/env bash
# Benchmark of `abshift migrate plan`, in one run on the same clusters:
#   (a) raw API-server limit: the resource types abshift lists, in A and B at once,
#       paginated (500 and 5000 per page), bodies unparsed (crates/kube/examples/rawbench.rs)
#   (b) abshift migrate plan (release build): wall time and peak RSS
#   (c) a plain kubectl pipeline: kubectl get <every kind> -A -o json | jq (strip generated fields)
#   scripts/bench-plan.sh [OBJECTS (default 20000)] [NAMESPACES (default 200)]
#   env: ABSHIFT_BIN (binary to measure), ABSHIFT_A_VERSION, ABSHIFT_B_VERSION
# Uses its own pair of test clusters (target/bench-plan), stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-20000}; NSS=${2:-200}
source scripts/bench/clusters.sh
bench_rawbench
bench_clusters bench-plan
bash scripts/seed-estate.sh paas-a
python3 scripts/bench/k8s_load.py create "$KUBECONFIG" paas-a "$N" "$NSS"
total=$(kubectl --context paas-a get configmaps,secrets -A --no-headers 2>/dev/null | wc -l)
echo "cluster A: $total ConfigMaps+Secrets (estate included)" >&2

measure() { # label, command...: prints "label seconds peakRSS_MB"
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$ABSHIFT_TESTENV/time.out" "$@" >/dev/null 2>"$ABSHIFT_TESTENV/$label.err"
  read -r secs kb <"$ABSHIFT_TESTENV/time.out"
  echo "$label $secs $((kb / 1024))"
}

raw=$("$RAW" list --kubeconfig "$KUBECONFIG" --from paas-a --to paas-b --concurrency 8 --page-size 500,5000 \
  | jq -s 'min_by(.seconds) | {seconds: (.seconds * 100 | round / 100), page_size, pages: (.a.pages + .b.pages), bytes: (.a.bytes + .b.bytes)}')
plan=$(measure abshift "$ABSHIFT" -v migrate plan --from paas-a --to paas-b -o "$ABSHIFT_TESTENV/plan.json")
objects=$(jq '.summary.objects' "$ABSHIFT_TESTENV/plan.json")
skipped=$(jq '.summary.skipped' "$ABSHIFT_TESTENV/plan.json")
kinds=$(kubectl --context paas-a api-resources --verbs=list,create -o name | paste -sd, -)
kubectl_pipeline() {
  kubectl --context paas-a get "$kinds" -A -o json \
    | jq '.items |= map(del(.metadata.uid, .metadata.resourceVersion, .metadata.creationTimestamp, .metadata.generation, .metadata.managedFields, .metadata.selfLink, .status))' >/dev/null
}
export -f kubectl_pipeline; export kinds
kctl=$(measure kubectl bash -c kubectl_pipeline)

read -r _ psecs prss <<<"$plan"; read -r _ ksecs krss <<<"$kctl"
rsecs=$(jq -r .seconds <<<"$raw"); rbytes=$(jq -r .bytes <<<"$raw"); rpages=$(jq -r .pages <<<"$raw"); rsize=$(jq -r .page_size <<<"$raw")
cat <<REPORT
| what | wall time (s) | peak RSS (MB) | notes |
|---|---:|---:|---|
| raw list of A and B at once (8 in flight, the faster of pages of 500 and 5000: $rsize) | $rsecs | – | $rpages pages, $((rbytes / 1048576)) MiB of JSON, bodies unparsed |
| abshift migrate plan (release) | $psecs | $prss | $objects objects planned, $skipped skipped, A and B listed, diffed, graphed |
| kubectl get -A -o json \| jq | $ksecs | $krss | one kubectl over every kind; no ordering, no skipping, no diff (kubectl's RSS) |

objects in A (ConfigMaps+Secrets): $total; machine: $(nproc) cores; $(date -u +%Y-%m-%d)

abshift phases (elapsed ms since start, from -v):
$(grep -E 'elapsed_ms=' "$ABSHIFT_TESTENV/abshift.err" | sed -E 's/^.*(INFO|WARN) +//; s/^/    /')
REPORT
bash scripts/testenv.sh down >/dev/null 2>&1 || true
