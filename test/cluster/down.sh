#!/usr/bin/env bash
# Stops exactly the processes cluster:up started (by recorded PID) and removes the control plane's data.
set -euo pipefail
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
stopped=()
for ((i = ${#components[@]} - 1; i >= 0; i--)); do
  c=${components[$i]}
  if pid_alive "$c"; then
    pid=$(cat "$dir/pids/$c.pid")
    stop_pid "$c" 5 || true
    stopped+=("$c($pid)")
  fi
done
if [ -f "$dir/etcd-data-dir" ]; then rm -rf "$(cat "$dir/etcd-data-dir")"; fi
rm -rf "$dir"
log "stopped: ${stopped[*]:-nothing was running}; removed $dir"
