#!/usr/bin/env bash
# Installs, once per machine, the Debian packages abshift's tests and demo use:
# etcd (test clusters and the sync tests), kubectl (seeding, the kubectl
# benchmark), protoc (the etcd client's build), curl and openssl (test env),
# and moto's server mode from PyPI (the AWS API the elb tests run against).
# The Kubernetes control-plane binaries are built by scripts/build-k8s.sh.
set -euo pipefail
SUDO=""; [[ $(id -u) -ne 0 ]] && SUDO="sudo"
need=()
command -v etcd >/dev/null || need+=(etcd-server)
command -v etcdctl >/dev/null || need+=(etcd-client)
command -v kubectl >/dev/null || need+=(kubernetes-client)
command -v protoc >/dev/null || need+=(protobuf-compiler)
command -v curl >/dev/null || need+=(curl)
command -v openssl >/dev/null || need+=(openssl)
command -v jq >/dev/null || need+=(jq)
if [[ ${#need[@]} -gt 0 ]]; then
  echo "[install-deps] installing ${need[*]}" >&2
  $SUDO apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >&2
fi
if ! python3 -c 'import moto.server' >/dev/null 2>&1 || ! command -v moto_server >/dev/null; then
  echo "[install-deps] installing moto[server] from PyPI" >&2
  python3 -m pip install --quiet 'moto[server]' >&2
fi
