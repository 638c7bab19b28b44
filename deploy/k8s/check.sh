#!/usr/bin/env bash
# Schema-check the Kubernetes manifests here, offline: kubernetes-validate
# (PyPI) bundles the Kubernetes OpenAPI schemas, so no cluster or network is
# needed once it is installed. --strict rejects unknown fields (a typo such
# as `completionsMode` would otherwise pass silently).
# Env: VENV (default /tmp/wsfp-k8s-venv), K8S_VERSION (default: the tool's newest).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
VENV=${VENV:-/tmp/wsfp-k8s-venv}
if [ ! -x "$VENV/bin/kubernetes-validate" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q kubernetes-validate
fi
args=(--strict)
[ -n "${K8S_VERSION:-}" ] && args+=(-k "$K8S_VERSION")
"$VENV/bin/kubernetes-validate" "${args[@]}" ./*.yaml
