"""mlflow_log_model.py NAME [ALIAS]: through the tracking server in MLFLOW_TRACKING_URI (credentials in
MLFLOW_TRACKING_USERNAME/PASSWORD), logs a run with a small scikit-learn model, registers it as NAME and,
when given, sets ALIAS on the new version. Prints one JSON line: run id, version, the version's source."""
import json
import sys

import mlflow
from mlflow import MlflowClient
from sklearn.linear_model import LogisticRegression

name = sys.argv[1]
alias = sys.argv[2] if len(sys.argv) > 2 else None
X = [[0.0, 1.0], [1.0, 0.0], [0.9, 0.1], [0.1, 0.8]]
y = [0, 1, 1, 0]
with mlflow.start_run() as run:
    model = LogisticRegression().fit(X, y)
    mlflow.log_param("C", model.C)
    mlflow.log_metric("accuracy", model.score(X, y))
    info = mlflow.sklearn.log_model(model, name="model", registered_model_name=name, input_example=X[:1])
client = MlflowClient()
version = info.registered_model_version
if alias:
    client.set_registered_model_alias(name, alias, version)
mv = client.get_model_version(name, version)
print(json.dumps({"run_id": run.info.run_id, "version": str(version), "source": mv.source,
                  "artifact_uri": run.info.artifact_uri}))
