# Shared settings for the local control plane scripts (sourced, not run).
# shellcheck shell=bash disable=SC2034 # (variables used by the scripts that source this file)
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"
cache=${KFOPS_CACHE:-$HOME/.cache/kfops}
dir=${KFOPS_CLUSTER_DIR:-$cache/cluster}
etcd_port=${KFOPS_ETCD_PORT:-23790}
etcd_peer_port=$((etcd_port + 10))
api_port=${KFOPS_API_PORT:-26443}
cm_port=${KFOPS_CM_PORT:-20257}
sched_port=${KFOPS_SCHEDULER_PORT:-20259}
# Service ClusterIPs come from a loopback /20 (stand-ins listen on them); control planes that run
# side by side need ranges of their own (e.g. 127.0.112.0/20). The first address is the API Service.
service_cidr=${KFOPS_SERVICE_CIDR:-127.0.96.0/20}
api_service_ip=$(echo "${service_cidr%/*}" | awk -F. '{printf "%d.%d.%d.%d", $1, $2, $3, $4 + 1}')
# GKE-shaped on purpose: a real cluster's issuer differs from Kubeflow's default (kubernetes.default.svc...).
sa_issuer=${KFOPS_SA_ISSUER:-https://container.googleapis.com/v1/projects/kfops-local/locations/local/clusters/kfops}
api_url="https://127.0.0.1:$api_port"
components=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)
log() { printf '[cluster %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# pid_alive NAME: the recorded process still runs and is the binary we started.
pid_alive() {
  local f="$dir/pids/$1.pid" pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -q -- "/$1 "
}

api_ready() {
  curl -fsS --max-time 3 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" \
    "$api_url/readyz" >/dev/null 2>&1
}

# kube_curl METHOD PATH [BODY]: an admin call to the API server.
kube_curl() {
  local args=(-fsS --max-time 10 --cacert "$dir/pki/ca.crt" --cert "$dir/pki/admin.crt" --key "$dir/pki/admin.key" -X "$1")
  [ $# -ge 3 ] && args+=(-H 'Content-Type: application/json' --data "$3")
  curl "${args[@]}" "$api_url$2"
}

# sign_cert NAME CN [ORG...]: a client certificate signed by the local CA.
sign_cert() {
  local name=$1 cn=$2 subj
  shift 2
  subj=""
  for o in "$@"; do subj="$subj/O=$o"; done
  subj="$subj/CN=$cn"
  openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/pki/$name.key" -subj "$subj" \
    -out "$dir/pki/$name.csr" 2>/dev/null
  printf 'extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n' > "$dir/pki/$name.ext"
  openssl x509 -req -in "$dir/pki/$name.csr" -CA "$dir/pki/ca.crt" -CAkey "$dir/pki/ca.key" \
    -CAcreateserial -days 365 -extfile "$dir/pki/$name.ext" -out "$dir/pki/$name.crt" 2>/dev/null
  rm -f "$dir/pki/$name.csr" "$dir/pki/$name.ext"
}

# write_kubeconfig FILE CERTNAME USER: a self-contained kubeconfig (certificates embedded).
write_kubeconfig() {
  local file=$1 cert=$2 user=$3
  umask 077
  cat > "$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: kfops-local
  cluster:
    server: $api_url
    certificate-authority-data: $(base64 -w0 < "$dir/pki/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 < "$dir/pki/$cert.crt")
    client-key-data: $(base64 -w0 < "$dir/pki/$cert.key")
contexts:
- name: kfops-local
  context:
    cluster: kfops-local
    user: $user
current-context: kfops-local
KC
}

# wait_until SECONDS WHAT COMMAND...: poll COMMAND every 0.2 s until it succeeds, or die.
wait_until() {
  local limit=$1 what=$2 i; shift 2
  for ((i = 0; i < limit * 5; i++)); do
    "$@" && return 0
    sleep 0.2
  done
  die "$what did not become ready within ${limit}s; see $dir/logs"
}

# record_args NAME BINARY ARGS...: keep a component's command line in $dir/NAME.args (NUL-separated,
# binary first), so it can be started again exactly as before (restart-apiserver.sh).
record_args() {
  local name=$1; shift
  printf '%s\0' "$@" > "$dir/$name.args"
}

# start_recorded NAME: run the command line recorded for NAME in the background (log appended to
# $dir/logs/NAME.log) and remember its PID in $dir/pids/NAME.pid.
start_recorded() {
  local name=$1 cmd=()
  [ -s "$dir/$name.args" ] || die "no recorded command line for $name in $dir/$name.args"
  mapfile -d '' -t cmd < "$dir/$name.args"
  nohup "${cmd[@]}" >> "$dir/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$dir/pids/$name.pid"
}

# stop_pid NAME [SECONDS]: SIGTERM the recorded process of NAME, wait up to SECONDS (default 5) for
# it to exit, then SIGKILL. Returns 1 when NAME was not running. A process that exited but was not
# reaped yet (a zombie has an empty cmdline) counts as stopped.
stop_pid() {
  local name=$1 limit=${2:-5} pid i
  pid_alive "$name" || return 1
  pid=$(cat "$dir/pids/$name.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < limit * 10; i++)); do pid_alive "$name" || return 0; sleep 0.1; done
  log "$name ($pid) still runs ${limit}s after SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do pid_alive "$name" || return 0; sleep 0.1; done
  die "$name ($pid) did not exit"
}
