"""Writes an MLflow iris model (scikit-learn) as KServe's storage initializer leaves it in /mnt/models.

  python make_iris_model.py DIR columns|tensor

columns: the signature names four columns (sepal_length, sepal_width, petal_length, petal_width), as a
model trained on a DataFrame has; tensor: the signature is one float64 tensor of shape (-1, 4), as a model
trained on a NumPy array has. DIR then holds MLmodel and the model; `mlserver start DIR` with KServe's
environment (MLSERVER_MODEL_IMPLEMENTATION=mlserver_mlflow.MLflowRuntime, MLSERVER_MODEL_URI=DIR) serves it.
"""
import sys

import mlflow.sklearn
import pandas as pd
from mlflow.models import infer_signature
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression

out, kind = sys.argv[1], sys.argv[2]
iris = load_iris()
columns = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
features = pd.DataFrame(iris.data, columns=columns) if kind == "columns" else iris.data
model = LogisticRegression(max_iter=500).fit(features, iris.target)
mlflow.sklearn.save_model(model, out, signature=infer_signature(features, model.predict(features)))
print(out)
