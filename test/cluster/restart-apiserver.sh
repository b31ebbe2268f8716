#!/usr/bin/env bash
# Restarts the local control plane's kube-apiserver, for fault-injection tests: stops exactly the
# recorded kube-apiserver PID (SIGTERM, then waits for it to exit), stays down DOWN_SECONDS (default
# 0), starts it again with the command line up.sh recorded and waits for /readyz. etcd and every
# other component keep running, so no data is lost. Prints one line on stdout:
#   old_pid=N new_pid=N term_ms=EPOCH_MS stopped_ms=EPOCH_MS started_ms=EPOCH_MS ready_ms=EPOCH_MS
set -euo pipefail
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
down=${1:-0}
[[ $down =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "usage: $0 [DOWN_SECONDS] (got '$down')"
pid_alive kube-apiserver || die "no kube-apiserver of the local control plane runs from $dir (npm run cluster:up)"
pid_alive etcd || die "etcd of the local control plane in $dir is not running"
[ -s "$dir/kube-apiserver.args" ] || die "$dir/kube-apiserver.args is missing (a control plane started by an older up.sh); restart it with cluster:down and cluster:up"
now_ms() { date +%s%3N; }
# The port is the one the server was started with (the caller may only have set KFOPS_CLUSTER_DIR).
mapfile -d '' -t recorded < "$dir/kube-apiserver.args"
for ((i = 1; i < ${#recorded[@]} - 1; i++)); do
  if [ "${recorded[$i]}" = --secure-port ]; then api_port=${recorded[$((i + 1))]}; fi
done
api_url="https://127.0.0.1:$api_port"

old_pid=$(cat "$dir/pids/kube-apiserver.pid")
term_ms=$(now_ms)
log "stopping kube-apiserver ($old_pid)"
# The API server drains in-flight requests on SIGTERM; watches end at once.
stop_pid kube-apiserver 60
stopped_ms=$(now_ms)
# Nothing may answer on the port while it is down (e.g. a stray second server).
if (exec 3<>"/dev/tcp/127.0.0.1/$api_port") 2>/dev/null; then die "127.0.0.1:$api_port still answers after kube-apiserver ($old_pid) exited"; fi
if [ "$down" != 0 ]; then sleep "$down"; fi

start_recorded kube-apiserver
started_ms=$(now_ms)
new_pid=$(cat "$dir/pids/kube-apiserver.pid")
log "started kube-apiserver ($new_pid) with the recorded arguments; waiting for /readyz"
ready_or_exited() { pid_alive kube-apiserver || die "kube-apiserver ($new_pid) exited; see $dir/logs/kube-apiserver.log"; api_ready; }
wait_until 90 "kube-apiserver (restarted)" ready_or_exited
ready_ms=$(now_ms)
log "kube-apiserver ready again: unreachable for $((ready_ms - term_ms)) ms (stopped in $((stopped_ms - term_ms)) ms)"
echo "old_pid=$old_pid new_pid=$new_pid term_ms=$term_ms stopped_ms=$stopped_ms started_ms=$started_ms ready_ms=$ready_ms"
