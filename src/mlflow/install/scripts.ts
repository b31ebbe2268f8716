/**
 * The programs the rendered containers run. They are part of the rendered objects (container commands),
 * so the tests run exactly these, with the containers' environment, against real PostgreSQL and S3.
 */

/**
 * Starts the tracking server: writes the basic-auth configuration from the environment (the admin
 * password and the database URI live in Secrets, never in a ConfigMap), then execs `mlflow server`.
 * Percent signs are doubled because the file is read by Python's configparser.
 */
export const SERVER_SCRIPT = `set -eu
umask 077
ini() { printf '%s' "$1" | sed 's/%/%%/g'; }
mkdir -p "$(dirname "$MLFLOW_AUTH_CONFIG_PATH")"
{
  echo '[mlflow]'
  echo "default_permission = $MLFLOW_AUTH_DEFAULT_PERMISSION"
  echo "database_uri = $(ini "\${MLFLOW_AUTH_DATABASE_URI:-$MLFLOW_BACKEND_STORE_URI}")"
  echo "admin_username = $(ini "$MLFLOW_ADMIN_USERNAME")"
  echo "admin_password = $(ini "$MLFLOW_ADMIN_PASSWORD")"
  echo 'authorization_function = mlflow.server.auth:authenticate_request_basic_auth'
} > "$MLFLOW_AUTH_CONFIG_PATH"
exec mlflow server --app-name basic-auth \\
  --host "$MLFLOW_HOST" --port "$MLFLOW_PORT" --workers "$MLFLOW_WORKERS" \\
  --backend-store-uri "$MLFLOW_BACKEND_STORE_URI" \\
  --serve-artifacts --artifacts-destination "$MLFLOW_ARTIFACTS_DESTINATION" \\
  --default-artifact-root mlflow-artifacts:/
`;

/**
 * Runs before the server (an init container): the backend store answers and the artifact bucket exists
 * (created when allowed), each within a deadline, or the container exits 1 with one line naming the
 * cause and the fix (read back as the container's termination message). The database may still be
 * starting (the in-cluster PostgreSQL is installed beside the server), so connecting is retried for up
 * to MLFLOW_CHECK_DB_WAIT_SECONDS.
 */
export const CHECK_STORES_SCRIPT = `import os, sys, time

def fail(what, cause, fix):
    print(f"{what}: {cause}; fix: {fix}", file=sys.stderr, flush=True)
    sys.exit(1)

def last_line(e):
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300]

import sqlalchemy
uri = os.environ["MLFLOW_BACKEND_STORE_URI"]
url = sqlalchemy.engine.make_url(uri)
where = url.render_as_string(hide_password=True)
wait = float(os.environ.get("MLFLOW_CHECK_DB_WAIT_SECONDS", "120"))
args = {"connect_timeout": 5} if url.get_backend_name() in ("postgresql", "mysql") else {}
engine = sqlalchemy.create_engine(url, connect_args=args, pool_pre_ping=True)
deadline = time.monotonic() + wait
while True:
    try:
        with engine.connect() as c:
            c.execute(sqlalchemy.text("SELECT 1"))
        print(f"backend store: {where} answers", flush=True)
        break
    except Exception as e:
        if time.monotonic() > deadline:
            fail("backend store", f"cannot connect to {where} within {wait:.0f} s ({last_line(e)})",
                 "check the database host, port, name and credentials in the backend store Secret, and that the database accepts connections from the cluster")
        time.sleep(2)

dest = os.environ["MLFLOW_ARTIFACTS_DESTINATION"]
create = os.environ.get("MLFLOW_CHECK_CREATE_BUCKET", "false") == "true"
scheme, _, rest = dest.partition("://")
bucket = rest.split("/", 1)[0]
if scheme == "s3":
    import boto3, botocore.config, botocore.exceptions
    endpoint = os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None
    s3 = boto3.client("s3", endpoint_url=endpoint, config=botocore.config.Config(
        connect_timeout=5, read_timeout=10, retries={"max_attempts": 2}))
    at = endpoint or "AWS S3"
    try:
        s3.head_bucket(Bucket=bucket)
        print(f"artifact store: bucket {bucket} at {at} is there", flush=True)
    except botocore.exceptions.ClientError as e:
        code = str(e.response.get("Error", {}).get("Code", ""))
        status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if code in ("404", "NoSuchBucket", "NotFound"):
            if not create:
                fail("artifact store", f"bucket {bucket} does not exist at {at}",
                     "create it, or let kfops create it (input create-bucket: true)")
            try:
                s3.create_bucket(Bucket=bucket)
            except botocore.exceptions.ClientError as c:
                fail("artifact store", f"bucket {bucket} does not exist at {at} and creating it failed ({last_line(c)})",
                     "create the bucket, or give the S3 key the s3:CreateBucket permission")
            print(f"artifact store: bucket {bucket} created at {at}", flush=True)
        elif code in ("403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch") or status == 403:
            fail("artifact store", f"{at} refused the S3 credentials for bucket {bucket} (HTTP {status} {code})",
                 "check the access key and secret in the mlflow-s3 Secret (inputs s3-access-key-id / s3-secret-access-key), and that the key may use the bucket")
        else:
            fail("artifact store", f"bucket {bucket} at {at}: {last_line(e)}", "check the S3 endpoint and the bucket name")
    except botocore.exceptions.BotoCoreError as e:
        fail("artifact store", f"cannot reach {at} ({last_line(e)})", "check the S3 endpoint (input s3-endpoint)")
elif scheme == "gs":
    from google.cloud import storage
    try:
        found = storage.Client().lookup_bucket(bucket, timeout=10)
    except Exception as e:
        fail("artifact store", f"cannot read bucket gs://{bucket} ({last_line(e)})",
             "give the server's Kubernetes ServiceAccount a Google service account with storage access (Workload Identity)")
    if found is None:
        fail("artifact store", f"bucket gs://{bucket} does not exist", "create it with gcloud storage buckets create")
    print(f"artifact store: bucket gs://{bucket} is there", flush=True)
`;

/** Migrates the backend store's schema to the server version of the image (the upgrade Job). */
export const UPGRADE_SCRIPT = `set -eu
echo "migrating the backend store to MLflow $(mlflow --version | sed 's/.* //')"
exec mlflow db upgrade "$MLFLOW_BACKEND_STORE_URI"
`;

/**
 * Makes MLflow's users match MLFLOW_USERS_JSON ({"name": "password"}) through the auth API, as the
 * admin: a missing user is created, an existing one gets the given password. Waits for the server
 * first (it may be rolling out). Prints one line per user, never a password. Then a registry round trip
 * (create, read, delete a throwaway registered model) proves the store takes writes.
 */
export const USERS_SCRIPT = `import base64, json, os, sys, time, urllib.error, urllib.parse, urllib.request

base = os.environ["MLFLOW_TRACKING_URI"].rstrip("/")
admin = f'{os.environ["MLFLOW_ADMIN_USERNAME"]}:{os.environ["MLFLOW_ADMIN_PASSWORD"]}'
headers = {"Authorization": "Basic " + base64.b64encode(admin.encode()).decode(), "Content-Type": "application/json"}

def call(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{base}/api/2.0/mlflow/{path}", data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()

deadline = time.monotonic() + float(os.environ.get("MLFLOW_USERS_WAIT_SECONDS", "180"))
last = "no answer"
while True:
    try:
        with urllib.request.urlopen(f"{base}/health", timeout=5) as r:
            if r.status == 200:
                break
            last = f"HTTP {r.status}"
    except Exception as e:
        last = e
    if time.monotonic() > deadline:
        print(f"users: {base}/health did not answer ({last}); fix: check the server's log", file=sys.stderr)
        sys.exit(1)
    time.sleep(2)

users = json.loads(os.environ["MLFLOW_USERS_JSON"])
for name, password in sorted(users.items()):
    status, text = call("GET", "users/get?" + urllib.parse.urlencode({"username": name}))
    if status == 200:
        status, text = call("PATCH", "users/update-password", {"username": name, "password": password})
        done = "password set"
    elif status == 404 or "RESOURCE_DOES_NOT_EXIST" in text:
        status, text = call("POST", "users/create", {"username": name, "password": password})
        done = "created"
    if status != 200:
        print(f"users: {name}: HTTP {status} {text[:300]}; fix: check that {os.environ['MLFLOW_ADMIN_USERNAME']} is MLflow's admin", file=sys.stderr)
        sys.exit(1)
    print(f"user {name}: {done}", flush=True)

# The registry answers writes as well as reads: a throwaway registered model, created, read, deleted.
probe = f"kfops-check-{int(time.time() * 1000)}"
steps = [("POST", "registered-models/create", {"name": probe}),
         ("GET", "registered-models/get?" + urllib.parse.urlencode({"name": probe}), None),
         ("DELETE", "registered-models/delete", {"name": probe})]
for method, path, body in steps:
    status, text = call(method, path, body)
    if status != 200:
        print(f"registry round trip: {method} {path.split('?')[0]}: HTTP {status} {text[:300]}; fix: check the backend store and the server's log", file=sys.stderr)
        sys.exit(1)
print("registry round trip: created, read and deleted a registered model", flush=True)
`;
