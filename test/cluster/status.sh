#!/usr/bin/env bash
# Exit 0 and print the admin kubeconfig path when the local control plane is up; exit 1 otherwise.
set -euo pipefail
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
for c in "${components[@]}"; do pid_alive "$c" || exit 1; done
api_ready || exit 1
echo "$dir/admin.kubeconfig"
