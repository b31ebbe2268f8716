#!/usr/bin/env bash
# Runs nektos/act (a local GitHub Actions workflow runner), built once from its Go module into the kfops cache.
# The integration tests run the workflows of .github/workflows with it (test/support/act.ts).
set -euo pipefail
version=v0.2.89
bin="${KFOPS_CACHE:-$HOME/.cache/kfops}/act-$version"
if [ ! -x "$bin/act" ]; then
  mkdir -p "$bin"
  # act reports its version from main.version (set by its release builds through -ldflags).
  CGO_ENABLED=0 GOBIN="$bin" go install -trimpath -ldflags "-X main.version=${version#v}" \
    "github.com/nektos/act@$version" >&2
fi
exec "$bin/act" "$@"
