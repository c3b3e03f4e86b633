#!/usr/bin/env bash
# Seeds a manifest directory (default: the sample estate) into a cluster with
# kubectl, file by file in name order, waiting for CRDs to be Established before
# the files that follow use them.
#   scripts/seed-estate.sh CONTEXT [DIR]     (KUBECONFIG must name the cluster)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CONTEXT=${1:?usage: seed-estate.sh CONTEXT [DIR]}
DIR=${2:-$ROOT/tests/fixtures/estate}
command -v kubectl >/dev/null || { echo "seed-estate: kubectl not found (apt-get install kubernetes-client)" >&2; exit 1; }
k() { kubectl --context "$CONTEXT" "$@"; }
for f in "$DIR"/*.yaml; do
  k apply --server-side --force-conflicts -f "$f" >/dev/null
  if grep -q '^kind: CustomResourceDefinition' "$f"; then
    k wait --for condition=established --timeout=60s crd --all >/dev/null
  fi
done
echo "seeded $(ls "$DIR"/*.yaml | wc -l) files into $CONTEXT" >&2
