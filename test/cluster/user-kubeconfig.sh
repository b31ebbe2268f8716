#!/usr/bin/env bash
# Mints a kubeconfig for a restricted user of the local control plane: a client certificate with
# CN=<user> and O=<group> for each group. RBAC applies to it. Prints the kubeconfig path.
set -euo pipefail
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
[ $# -ge 1 ] || { echo "usage: $0 USER [GROUP ...]" >&2; exit 2; }
user=$1; shift
[[ $user =~ ^[A-Za-z0-9@._:-]+$ ]] || die "user '$user' must match [A-Za-z0-9@._:-]+"
[ -f "$dir/pki/ca.key" ] || die "no local control plane in $dir; run 'npm run cluster:up' first"
safe=$(printf '%s' "$user" | tr -c 'A-Za-z0-9._-' '_')
sign_cert "user-$safe" "$user" "$@"
write_kubeconfig "$dir/users/$safe.kubeconfig" "user-$safe" "$user"
echo "$dir/users/$safe.kubeconfig"
