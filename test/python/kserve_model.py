"""A tiny model served by KServe's own model server (the `kserve` package), for integration tests.

score(row) = 2 * row[0] + row[1] - 1 for each row of numbers; v1 answers {"predictions": [score, ...]},
v2 answers one FP64 output "score" of shape [rows].

  python kserve_model.py --model_name iris --http_port 8080 [--load_delay 3] [--broken]

--load_delay: the model reports ready only after this many seconds (the server answers 503 before).
--broken: the model loads and reports ready, but every prediction raises (a Ready server that fails).
--quiet: no access log line per request (for benchmarks).
The server listens on 127.0.0.1 only (KServe's server binds 0.0.0.0; its uvicorn Config is given the host).
"""
import argparse
import threading
import uuid

import logging

import uvicorn
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer, model_server


class TinyModel(Model):
    def __init__(self, name: str, broken: bool):
        super().__init__(name)
        self.broken = broken
        self.ready = False

    def load(self) -> bool:
        self.ready = True
        return self.ready

    @staticmethod
    def score(row):
        values = row if isinstance(row, list) else [row]
        return 2.0 * float(values[0]) + (float(values[1]) if len(values) > 1 else 0.0) - 1.0

    def predict(self, payload, headers=None):
        if self.broken:
            raise RuntimeError("model weights are corrupt: cannot predict")
        if isinstance(payload, InferRequest):
            tensor = payload.inputs[0]
            array = tensor.as_numpy()
            rows = array.reshape(array.shape[0], -1).tolist() if array.ndim > 1 else array.tolist()
            scores = [self.score(r) for r in rows]
            return InferResponse(
                model_name=self.name,
                infer_outputs=[InferOutput(name="score", shape=[len(scores)], datatype="FP64", data=scores)],
                response_id=payload.id or str(uuid.uuid4()),
            )
        instances = payload["instances"]
        return {"predictions": [self.score(r) for r in instances]}


class LoopbackConfig(uvicorn.Config):
    def __init__(self, *args, **kwargs):
        kwargs["host"] = "127.0.0.1"
        super().__init__(*args, **kwargs)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(parents=[model_server.parser])
    parser.add_argument("--load_delay", type=float, default=0.0)
    parser.add_argument("--broken", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    args, _ = parser.parse_known_args()
    uvicorn.Config = LoopbackConfig
    model = TinyModel(args.model_name, args.broken)
    if args.load_delay > 0:
        threading.Timer(args.load_delay, model.load).start()
    else:
        model.load()
    server = ModelServer(http_port=args.http_port, enable_grpc=False, workers=1, enable_latency_logging=not args.quiet)
    if args.quiet:
        for name in ("uvicorn.access", "kserve.trace"):
            logging.getLogger(name).setLevel(logging.WARNING)
    server.start([model])
