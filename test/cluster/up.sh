#!/usr/bin/env bash
# Starts a real Kubernetes control plane on 127.0.0.1 (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kwok with fake nodes), building the binaries first when they are not cached.
# Re-running it while the control plane is up only prints how to use it.
set -euo pipefail
# shellcheck source=lib.sh
. "$(cd "$(dirname "$0")" && pwd)/lib.sh"
nodes=${KFOPS_NODES:-2}
# Client-side rate limit of the controller-manager (upstream default 20 QPS; managed control planes
# run higher). At 20, a burst of 45 Deployments becomes ready one every ~50 ms.
controller_qps=${KFOPS_CONTROLLER_QPS:-100}
node_cpu=${KFOPS_NODE_CPU:-8}
node_memory=${KFOPS_NODE_MEMORY:-32Gi}

usage() {
  cat <<MSG
The local control plane is up ($(kube_curl GET /version | sed -n 's/.*"gitVersion": "\(.*\)".*/\1/p') at $api_url).
  export KUBECONFIG=$dir/admin.kubeconfig
A kubeconfig for a restricted user (RBAC applies): npm run cluster:user -- alice [group ...]
Stop it and remove its data: npm run cluster:down
MSG
}

all_alive() { for c in "${components[@]}"; do pid_alive "$c" || return 1; done; }
if all_alive && api_ready; then usage; exit 0; fi
for c in "${components[@]}"; do
  if pid_alive "$c"; then die "a partial control plane is running from $dir (e.g. $c); run 'npm run cluster:down' first"; fi
done

bin=$(bash "$here/build.sh" all | tail -n 1)
stages=$(go env GOMODCACHE)/sigs.k8s.io/kwok@$KWOK_VERSION/kustomize/stage
[ -d "$stages" ] || (cd "$cache" && go mod download "sigs.k8s.io/kwok@$KWOK_VERSION")
[ -d "$stages" ] || die "kwok stage configs not found at $stages"

for p in "$etcd_port" "$etcd_peer_port" "$api_port" "$cm_port" "$sched_port"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then die "port 127.0.0.1:$p is in use (set KFOPS_*_PORT to move it)"; fi
done

rm -rf "$dir"
mkdir -p "$dir/pki" "$dir/logs" "$dir/pids" "$dir/users"
etcd_data=$(mktemp -d /dev/shm/kfops-etcd.XXXXXX 2>/dev/null || mktemp -d)
echo "$etcd_data" > "$dir/etcd-data-dir"

log "certificates (CA, API serving, admin, components, service-account keys)"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/pki/ca.key" -out "$dir/pki/ca.crt" -days 3650 \
  -subj "/CN=kfops-local-ca" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$dir/pki/apiserver.key" -subj "/CN=kube-apiserver" \
  -out "$dir/pki/apiserver.csr" 2>/dev/null
cat > "$dir/pki/apiserver.ext" <<EXT
subjectAltName=IP:127.0.0.1,DNS:localhost,IP:$api_service_ip,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
keyUsage=digitalSignature,keyEncipherment
EXT
openssl x509 -req -in "$dir/pki/apiserver.csr" -CA "$dir/pki/ca.crt" -CAkey "$dir/pki/ca.key" -CAcreateserial \
  -days 365 -extfile "$dir/pki/apiserver.ext" -out "$dir/pki/apiserver.crt" 2>/dev/null
sign_cert admin kfops-admin system:masters
sign_cert controller-manager system:kube-controller-manager
sign_cert scheduler system:kube-scheduler
openssl genrsa -out "$dir/pki/sa.key" 2048 2>/dev/null
openssl rsa -in "$dir/pki/sa.key" -pubout -out "$dir/pki/sa.pub" 2>/dev/null
write_kubeconfig "$dir/admin.kubeconfig" admin kfops-admin
write_kubeconfig "$dir/controller-manager.kubeconfig" controller-manager system:kube-controller-manager
write_kubeconfig "$dir/scheduler.kubeconfig" scheduler system:kube-scheduler

start() { # start NAME ARGS...: run bin/NAME in the background, remember its command line and PID
  local name=$1; shift
  record_args "$name" "$bin/$name" "$@"
  start_recorded "$name"
}

log "etcd on 127.0.0.1:$etcd_port"
start etcd --name kfops --data-dir "$etcd_data" \
  --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
  --listen-peer-urls "http://127.0.0.1:$etcd_peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$etcd_peer_port" \
  --initial-cluster "kfops=http://127.0.0.1:$etcd_peer_port" --unsafe-no-fsync --quota-backend-bytes=4294967296 \
  --listen-metrics-urls "" --log-level warn
wait_until 30 etcd curl -fs --max-time 2 -o /dev/null "http://127.0.0.1:$etcd_port/health"

# Service ClusterIPs come from a loopback range, so a test can serve what a Service would route to
# (an admission webhook backend, a model server) on the Service's own ClusterIP and port.
# API Priority and Fairness is on, as on real clusters (a Limited priority level answers 429 beyond
# its seats; test/support/faults.ts throttles one user that way). On SIGTERM (restart-apiserver.sh) it
# answers 429 with Retry-After until in-flight requests are done, then exits within 2 s instead of
# waiting up to 60 s for open watch connections.
# KFOPS_AUDIT=1 records every request (metadata only) in $dir/audit.log, e.g. to count what an
# installer sends (bench/install.ts).
audit=()
if [ "${KFOPS_AUDIT:-0}" = 1 ]; then
  printf 'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n- level: Metadata\n' > "$dir/audit-policy.yaml"
  audit=(--audit-policy-file "$dir/audit-policy.yaml" --audit-log-path "$dir/audit.log" --audit-log-mode blocking --audit-log-maxsize 0)
fi
log "kube-apiserver on $api_url"
start kube-apiserver "${audit[@]}" --etcd-servers "http://127.0.0.1:$etcd_port" --bind-address 127.0.0.1 \
  --secure-port "$api_port" --tls-cert-file "$dir/pki/apiserver.crt" --tls-private-key-file "$dir/pki/apiserver.key" \
  --client-ca-file "$dir/pki/ca.crt" --service-account-issuer "$sa_issuer" \
  --service-account-key-file "$dir/pki/sa.pub" --service-account-signing-key-file "$dir/pki/sa.key" \
  --service-cluster-ip-range "$service_cidr" --authorization-mode RBAC --allow-privileged=true \
  --shutdown-send-retry-after=true --profiling=false --v 1
wait_until 90 kube-apiserver api_ready

# kwok provisions and binds volumes of StorageClass kwok-volume itself (its volume stages); the
# controller-manager's binder would race it and mark claims Lost, so it is off.
log "kube-controller-manager and kube-scheduler"
start kube-controller-manager --kubeconfig "$dir/controller-manager.kubeconfig" --leader-elect=false \
  --bind-address 127.0.0.1 --secure-port "$cm_port" --root-ca-file "$dir/pki/ca.crt" \
  --service-account-private-key-file "$dir/pki/sa.key" --cluster-signing-cert-file "$dir/pki/ca.crt" \
  --cluster-signing-key-file "$dir/pki/ca.key" --use-service-account-credentials=true \
  --controllers '*,-persistentvolume-binder-controller' \
  --concurrent-deployment-syncs 10 --concurrent-replicaset-syncs 10 \
  --kube-api-qps "$controller_qps" --kube-api-burst "$((controller_qps * 2))" --v 1
start kube-scheduler --kubeconfig "$dir/scheduler.kubeconfig" --leader-elect=false \
  --bind-address 127.0.0.1 --secure-port "$sched_port" --v 1

log "kwok managing nodes annotated kwok.x-k8s.io/node=fake"
kwok_configs=()
for f in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
  pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml \
  pod/chaos/pod-container-running-failed.yaml \
  volume/fast/pvc-provision.yaml volume/fast/pv-bind.yaml volume/fast/pv-delete.yaml volume/fast/pvc-delete.yaml; do
  [ -f "$stages/$f" ] || die "kwok stage $f missing in $stages"
  kwok_configs+=(--config "$stages/$f")
done
start kwok --kubeconfig "$dir/admin.kubeconfig" --manage-all-nodes=false \
  --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake --node-lease-duration-seconds 40 \
  "${kwok_configs[@]}"

for ((n = 0; n < nodes; n++)); do
  kube_curl POST /api/v1/nodes "$(cat <<JSON
{"apiVersion":"v1","kind":"Node","metadata":{"name":"kwok-node-$n",
 "annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
 "labels":{"type":"kwok","kubernetes.io/hostname":"kwok-node-$n","kubernetes.io/os":"linux","kubernetes.io/arch":"amd64"}},
 "status":{"allocatable":{"cpu":"$node_cpu","memory":"$node_memory","pods":"110"},
           "capacity":{"cpu":"$node_cpu","memory":"$node_memory","pods":"110"}}}
JSON
)" > /dev/null
done
nodes_ready() {
  [ "$(kube_curl GET /api/v1/nodes | grep -c '"type": "Ready"')" -ge "$nodes" ] &&
    [ "$(kube_curl GET /api/v1/nodes | tr -d ' \n' | grep -o '"type":"Ready","status":"True"' | wc -l)" -ge "$nodes" ]
}
default_sa() { kube_curl GET /api/v1/namespaces/default/serviceaccounts/default > /dev/null 2>&1; }
wait_until 60 "kwok nodes" nodes_ready
wait_until 60 "default ServiceAccount (controller-manager)" default_sa
for c in "${components[@]}"; do pid_alive "$c" || die "$c exited; see $dir/logs/$c.log"; done
log "ready: $nodes fake node(s) with ${node_cpu} CPU and $node_memory each"
usage
