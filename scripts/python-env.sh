#!/usr/bin/env bash
# python-env.sh NAME: prints the path of a cached virtualenv holding test/python/NAME.txt's pinned
# packages, creating it first when missing or when the requirements file changed (the path carries
# the file's hash). Used by .ci/run (through bootstrap.sh) and by integration tests that start real
# Python servers (MLflow, model servers, S3) on loopback.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
name=${1:?usage: python-env.sh NAME (a file test/python/NAME.txt)}
req="$root/test/python/$name.txt"
[ -f "$req" ] || { echo "python-env: $req not found" >&2; exit 2; }
cache=${KFOPS_CACHE:-$HOME/.cache/kfops}
python=${KFOPS_PYTHON:-python3}
hash=$(cat "$req" | sha256sum | cut -c1-12)
venv="$cache/venv/$name-$hash"
if [ ! -x "$venv/bin/python" ] || [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  echo "python-env: creating $venv from test/python/$name.txt" >&2
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --upgrade pip >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" >&2
  touch "$venv/.complete"
fi
echo "$venv"
