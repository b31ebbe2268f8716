#!/usr/bin/env bash
# The main job, locally, on a fresh machine: installs what it needs (scripts/bootstrap.sh), starts the
# local control plane and runs install-kubeflow on the real Kubeflow 1.9.1 render (npm run demo).
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
# shellcheck source=bootstrap.sh
. scripts/bootstrap.sh
step "npm run demo"
npm run demo
