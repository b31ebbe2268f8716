"""Writes a tiny MLflow model (scikit-learn, with a column signature) and MLServer settings to serve it.

  python make_mlflow_model.py DIR MODEL_NAME HTTP_PORT GRPC_PORT METRICS_PORT

DIR/model holds the MLflow model (the directory with MLmodel that KServe's storageUri points at);
DIR/settings.json and DIR/model-settings.json make `mlserver start DIR` serve it with MLServer's MLflow
runtime, the runtime KServe uses for modelFormat mlflow. The model: logistic regression on two
features, "x" and "y", predicting 1 when x + y > 1.
"""
import json
import os
import sys

import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression

out, name, http_port, grpc_port, metrics_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = np.random.default_rng(7)
features = pd.DataFrame({"x": rng.random(200), "y": rng.random(200)})
labels = (features["x"] + features["y"] > 1).astype(np.int64)
model = LogisticRegression(C=100.0).fit(features, labels)
model_dir = os.path.join(out, "model")
mlflow.sklearn.save_model(model, model_dir, signature=infer_signature(features, model.predict(features)))
with open(os.path.join(out, "settings.json"), "w") as f:
    json.dump({"host": "127.0.0.1", "http_port": http_port, "grpc_port": grpc_port, "metrics_port": metrics_port, "parallel_workers": 0, "debug": False}, f)
with open(os.path.join(out, "model-settings.json"), "w") as f:
    json.dump({"name": name, "implementation": "mlserver_mlflow.MLflowRuntime", "parameters": {"uri": "./model"}}, f)
print(model_dir)
