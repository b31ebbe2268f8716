#!/usr/bin/env bash
# Used by the platform and rebuild-cluster workflows: gives install-kubeflow its `users` (the caller's
# USERS_FILE) as the step output `users`, and each line KUBEFLOW_PASSWORD_<NAME>=<password> of PASSWORDS
# (the kubeflow-passwords secret) as an environment variable of the later steps, masked.
set -euo pipefail
if [ ! -f "$USERS_FILE" ]; then
  echo "::error::users-file: $USERS_FILE is not a file in the caller's repository (expected a YAML list of users, e.g. kubeflow/users.yaml)"
  exit 1
fi
delimiter="kfops_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
{
  echo "users<<$delimiter"
  cat "$USERS_FILE"
  echo
  echo "$delimiter"
} >>"$GITHUB_OUTPUT"
n=0
while IFS= read -r line || [ -n "$line" ]; do
  n=$((n + 1))
  [ -z "${line//[[:space:]]/}" ] && continue
  name=${line%%=*}
  if [ "$name" = "$line" ] || ! [[ $name =~ ^KUBEFLOW_PASSWORD_[A-Z0-9_]+$ ]]; then
    echo "::error::secret kubeflow-passwords, line $n: expected KUBEFLOW_PASSWORD_<NAME>=<password> (NAME: A-Z, 0-9, _)"
    exit 1
  fi
  value=${line#*=}
  echo "::add-mask::$value"
  printf '%s<<%s\n%s\n%s\n' "$name" "$delimiter" "$value" "$delimiter" >>"$GITHUB_ENV"
done <<<"${PASSWORDS:-}"
