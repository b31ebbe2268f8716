#!/usr/bin/env bash
# Lints .github/workflows with actionlint, built once from its Go module into the kfops cache.
set -euo pipefail
version=v1.7.7
bin="${KFOPS_CACHE:-$HOME/.cache/kfops}/actionlint-$version"
if [ ! -x "$bin/actionlint" ]; then
  mkdir -p "$bin"
  CGO_ENABLED=0 GOBIN="$bin" go install "github.com/rhysd/actionlint/cmd/actionlint@$version" >&2
fi
exec "$bin/actionlint" "$@"
