"""Inference benchmark: our Inference Service against ``mlflow models serve``, same model, same load, one run.

The model is one XGBoost classifier (``--trees`` trees, depth 6, ``--features``
float features) trained here on synthetic data. mlplat serves it as a Model
Pipeline (decode -> model -> threshold) registered in a Model Repository and
deployed; each of our requests names a user and the service fetches that
user's 20 features from Online Serving (a private ``redis-server`` holding
``--entities`` users), so our figure includes the feature fetch and the
prediction log. MLflow serves the same booster (its xgboost flavor) from its
own virtual environment (created on first use, ``--mlflow-venv``), with the
20 feature values in each request (``dataframe_split``, one row).

Both servers run with the same number of worker processes (``--workers``) on
loopback and are driven in turn by the same load generator in a separate
process: ``wrk`` when installed (``-c`` connections, ``--load-threads`` threads, a Lua script
rotating user ids), else ``benchmarks/loadgen.py``. Each side gets a warm-up,
then ``--seconds`` of measurement. Only the last line on stdout is the result:

    {"rps": {"mlplat": .., "mlflow": .., "ratio": ..}, "p99_ms": {...}, "errors": {...}, "detail": {...}}

``ratio`` > 1 means mlplat is better (rps: mlplat/mlflow; p99: mlflow/mlplat).
``--server uvicorn`` runs our service on uvicorn instead of granian (the
default, chosen with it); ``--only mlplat`` drives one side, for tuning runs.
``--kind mlp`` serves the torch MLP kind instead (2 x 64 hidden units, the
same 20 inputs); MLflow serves the same layers and weights with its pytorch
flavor from a venv with torch (``mlflow-serve-torch-venv``).

    .venv/bin/python benchmarks/inference.py [--workers 2] [--seconds 30] [--connections 64] [--server S]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import online_store as online_bench  # noqa: E402  (redis-server on a free port, the bench feature set)
from proctree import tree_cpu_seconds  # noqa: E402

DEFAULT_MLFLOW_VENV = Path.home() / ".cache" / "mlplat-bench" / "mlflow-serve-venv"
DEFAULT_TORCH_VENV = Path.home() / ".cache" / "mlplat-bench" / "mlflow-serve-torch-venv"
MODEL = "bench_model"


def say(message: str) -> None:
    print(f"[inference] {message}", file=sys.stderr, flush=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--load-threads", type=int, default=1,
                        help="wrk threads (one C thread drives either server past its limit; more steal their CPU)")
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--kind", choices=("xgboost", "mlp"), default="xgboost",
                        help="mlp: the torch MLP kind, served by MLflow's pytorch flavor (its own venv with torch)")
    parser.add_argument("--mlflow-venv", type=Path)
    parser.add_argument("--load", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--server", choices=("granian", "uvicorn"), default="granian",
                        help="the HTTP server under our service (python -m mlplat.services.inference --server)")
    parser.add_argument("--only", choices=("mlplat", "mlflow"),
                        help="drive one side only (tuning runs; the result line then has that side's figures alone)")
    return parser.parse_args()


# -- the model --------------------------------------------------------------------
def train_model(features: int, trees: int, kind: str = "xgboost") -> Any:
    import xgboost as xgb

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50_000, features))
    logit = x[:, :5] @ np.array([0.8, -0.6, 0.5, 0.3, -0.2]) - 1.0
    y = (rng.random(len(x)) < 1 / (1 + np.exp(-logit))).astype(int)
    if kind == "mlp":
        from mlplat.models.deep.estimator import MLPClassifier

        return MLPClassifier(hidden=64, layers=2, max_epochs=5, batch_size=512).fit(x, y)
    model = xgb.XGBClassifier(n_estimators=trees, max_depth=6, learning_rate=0.1, tree_method="hist", n_jobs=2)
    model.fit(x, y)
    return model


def setup_mlplat(home: Path, redis_url: str, model: Any, entities: int, features: int, kind: str = "xgboost") -> Any:
    """Home, feature set + Online Serving rows, the pipeline registered and deployed; returns settings."""
    from mlplat.config import load_settings
    from mlplat.features.online import open_store
    from mlplat.features.online.materialize import set_ref
    from mlplat.models.evaluate import EvaluationReport
    from mlplat.models.pipeline import InputField, InputSchema, ModelPipeline, Postprocess
    from mlplat.models.repository import environment
    from mlplat.platform import Platform
    from mlplat.serving import deployments

    ports = {"inference_port": online_bench.free_port()}
    settings = load_settings(env={}, home=home, online_store_url=redis_url,
                             mlflow_tracking_uri=f"sqlite:///{home / 'mlflow.db'}", **ports)
    platform = Platform(settings)
    sv = online_bench.register_set(platform.registry, features)
    ref = set_ref(sv)
    store = open_store(redis_url)
    ids = [f"u{i}" for i in range(entities)]
    rng = np.random.default_rng(1)
    columns = [rng.normal(size=entities) for _ in range(features)]
    stamps = np.full(entities, int(time.time() * 1_000_000), dtype=np.int64)
    say(f"writing {entities} users x {features} features to Online Serving")
    store.write_columns(ref, "user_id", ids, stamps, columns)
    fields = tuple(InputField(f"{sv.name}__f{i}", "float", "store") for i in range(features))
    schema = InputSchema(fields, ("user_id",), ((sv.name, sv.version),))
    pipeline = ModelPipeline(schema, None, model, Postprocess("threshold", classes=(0, 1)), task="classification",
                             model_columns=[f.name for f in fields], kind=kind, target="y")
    example = {f.name: float(columns[i][0]) for i, f in enumerate(fields)}
    pipeline = pipeline.with_examples(__import__("pandas").DataFrame([example]))
    report = EvaluationReport("classification", {}, 0, "random")
    registered = platform.repository.register(
        MODEL, pipeline, {"environment": environment(), "task": "classification", "kind": kind},
        report, team="bench", created_by="bench", alias="production")
    deployments.record(platform.db, MODEL, registered.version, previous_version=None, action="deploy", status="live",
                       team="bench", checks=[], message="benchmark", options={}, created_by="bench")
    token = "bench-token"
    settings.secrets_dir.mkdir(parents=True, exist_ok=True)
    (settings.secrets_dir / "inference_token").write_text(token)
    platform.db.dispose()
    return settings


def start_mlplat(settings: Any, workers: int, log: Path, server: str = "granian") -> subprocess.Popen[bytes]:
    env = {**os.environ, "MLPLAT_HOME": str(settings.home), "MLPLAT_ONLINE_STORE_URL": settings.online_store,
           "MLPLAT_MLFLOW_TRACKING_URI": settings.mlflow, "MLPLAT_INFERENCE_PORT": str(settings.inference_port)}
    return subprocess.Popen(
        [sys.executable, "-m", "mlplat.services.inference", "--workers", str(workers), "--log-file", str(log),
         "--server", server],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)


# -- MLflow's side ------------------------------------------------------------------
def ensure_mlflow_venv(venv: Path, kind: str = "xgboost") -> None:
    """MLflow's own venv with the model's library (xgboost, or torch for the mlp) at our versions."""
    import importlib

    import mlflow

    library = "torch" if kind == "mlp" else "xgboost"
    python = venv / "bin" / "python"
    wanted = {"mlflow": mlflow.__version__, library: importlib.import_module(library).__version__.split("+")[0]}
    if python.exists():
        versions = f"import mlflow, {library}; print(mlflow.__version__, {library}.__version__.split('+')[0])"
        probe = subprocess.run([str(python), "-c", versions], capture_output=True, text=True)
        if probe.returncode == 0 and probe.stdout.split() == list(wanted.values()):
            return
    pins = [f"{name}=={version}" for name, version in wanted.items()]
    say(f"creating MLflow's venv at {venv} ({', '.join(pins)}; a few minutes)")
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *pins, "pandas<3"], check=True)


def save_for_mlflow(model: Any, model_dir: Path, kind: str) -> None:
    """The same fitted model in MLflow's own flavor: xgboost, or pytorch for the mlp.

    The mlp's layers go in as a plain ``nn.Sequential`` holding the same weights, so MLflow's venv needs
    torch but not mlplat (all 20 inputs are numbers: the network's embedding blocks are empty).
    """
    if kind == "mlp":
        import mlflow.pytorch
        from torch import nn

        plain = nn.Sequential(*model.net_.tabular.body, model.net_.head).eval()
        mlflow.pytorch.save_model(plain, str(model_dir), serialization_format="pickle")  # any batch size
        return
    import mlflow.xgboost

    mlflow.xgboost.save_model(model, str(model_dir))


def start_mlflow(venv: Path, model_dir: Path, port: int, workers: int, log: Path) -> subprocess.Popen[bytes]:
    out = open(log, "ab")
    env = {**os.environ, "MLFLOW_TRACKING_URI": "", "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.Popen(
        [str(venv / "bin" / "mlflow"), "models", "serve", "-m", str(model_dir), "--env-manager", "local",
         "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)],
        env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def wait_http(url: str, proc: subprocess.Popen[bytes], timeout: float = 180.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode} before answering {url}")
        try:
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


# -- load -------------------------------------------------------------------------------
WRK_SCRIPT = """
local bodies = {}
local n = 0
init = function(args)
  for line in io.lines(args[1]) do n = n + 1; bodies[n] = line end
end
local i = 0
request = function()
  i = i %% n + 1
  return wrk.format("POST", "%s", {["Content-Type"] = "application/json", ["Authorization"] = "%s"}, bodies[i])
end
"""


def run_wrk(url: str, path: str, auth: str, bodies_file: Path, seconds: float, connections: int, work: Path,
            threads: int = 1) -> dict[str, Any]:
    script = work / f"load-{abs(hash(url)) % 10_000}.lua"
    script.write_text(WRK_SCRIPT % (path, auth))
    done = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", f"{max(1, int(seconds))}s", "--latency",
         "-s", str(script), url + path, "--", str(bodies_file)], capture_output=True, text=True, check=True)
    return parse_wrk(done.stdout)


def parse_wrk(text: str) -> dict[str, Any]:
    def ms(value: str, unit: str) -> float:
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    total = int(re.search(r"(\d+) requests in", text).group(1))
    p = {q: ms(*re.search(rf"\s{q}%\s+([\d.]+)(us|ms|s|m)", text).groups()) for q in ("50", "99")}
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    return {"rps": rps, "p50_ms": p["50"], "p99_ms": p["99"], "requests": total, "errors": errors}


def run_python_load(url: str, path: str, auth: str, bodies_file: Path, seconds: float, connections: int
                    ) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, str(HERE / "loadgen.py"), "--url", url + path, "--auth", auth, "--bodies", str(bodies_file),
         "--seconds", str(seconds), "--connections", str(connections)], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def drive(kind: str, url: str, path: str, auth: str, bodies: Path, seconds: float, connections: int, work: Path,
          threads: int = 1) -> dict[str, Any]:
    if kind == "wrk":
        return run_wrk(url, path, auth, bodies, seconds, connections, work, threads)
    return run_python_load(url, path, auth, bodies, seconds, connections)


def main() -> None:
    args = parse_args()
    args.mlflow_venv = args.mlflow_venv or (DEFAULT_MLFLOW_VENV if args.kind == "xgboost" else DEFAULT_TORCH_VENV)
    load = args.load if args.load != "auto" else ("wrk" if shutil.which("wrk") else "python")
    work = Path(tempfile.mkdtemp(prefix="mlplat-bench-inference-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        if args.only != "mlplat":
            ensure_mlflow_venv(args.mlflow_venv.expanduser(), args.kind)
        redis, redis_url = online_bench.start_redis(work)
        procs.append(redis)
        say(f"training {args.kind} ({args.features} features)")
        model = train_model(args.features, args.trees, args.kind)
        settings = setup_mlplat(work / "home", redis_url, model, args.entities, args.features, args.kind)
        model_dir = work / "mlflow-model"
        save_for_mlflow(model, model_dir, args.kind)
        rng = np.random.default_rng(2)
        ours, theirs = work / "ours.jsonl", work / "theirs.jsonl"
        users = rng.integers(0, args.entities, size=5000)
        ours.write_text("".join(json.dumps({"entity": {"user_id": f"u{u}"}, "features": {}}) + "\n" for u in users))
        cols = [f"f{i}" for i in range(args.features)]
        theirs.write_text("".join(
            json.dumps({"dataframe_split": {"columns": cols,
                                            "data": [rng.normal(size=args.features).round(6).tolist()]}})
            + "\n" for _ in range(5000)))

        results: dict[str, dict[str, Any]] = {}
        port = online_bench.free_port()
        sides = [
            ("mlplat", lambda: start_mlplat(settings, args.workers, work / "mlplat.log", args.server),
             f"http://127.0.0.1:{settings.inference_port}", f"/v1/predict/{MODEL}", "Bearer bench-token", ours,
             "/readyz"),
            ("mlflow", lambda: start_mlflow(args.mlflow_venv.expanduser(), model_dir, port, args.workers,
                                            work / "mlflow.log"),
             f"http://127.0.0.1:{port}", "/invocations", "Bearer none", theirs, "/ping"),
        ]
        for name, start, url, path, auth, bodies, health in sides:
            if args.only and name != args.only:
                continue
            say(f"{name}: starting {args.workers} worker(s)")
            proc = start()
            procs.append(proc)
            wait_http(url + health, proc)
            say(f"{name}: warm-up {args.warmup:.0f} s, then {args.seconds:.0f} s "
                f"with {args.connections} connections ({load})")
            drive(load, url, path, auth, bodies, args.warmup, args.connections, work, args.load_threads)
            cpu = tree_cpu_seconds(proc.pid)
            results[name] = drive(load, url, path, auth, bodies, args.seconds, args.connections, work,
                                  args.load_threads)
            results[name]["cpu_us_per_request"] = round(
                (tree_cpu_seconds(proc.pid) - cpu) * 1e6 / max(1, results[name]["requests"]), 1)
            say(f"{name}: {results[name]}")
            stop(proc)
        if args.only:
            print(json.dumps({args.only: results[args.only], "workers": args.workers, "server": args.server,
                              "load_avg_1m": round(os.getloadavg()[0], 2)}))
            return
        m, f = results["mlplat"], results["mlflow"]
        print(json.dumps({
            "rps": {"mlplat": round(m["rps"], 1), "mlflow": round(f["rps"], 1), "ratio": round(m["rps"] / f["rps"], 2)},
            "p99_ms": {"mlplat": round(m["p99_ms"], 2), "mlflow": round(f["p99_ms"], 2),
                       "ratio": round(f["p99_ms"] / m["p99_ms"], 2)},
            "errors": {"mlplat": m["errors"], "mlflow": f["errors"]},
            "detail": {
                "workers": args.workers, "connections": args.connections, "seconds": args.seconds, "load": load,
                "load_threads": args.load_threads, "server": args.server, "kind": args.kind, "trees": args.trees,
                "features": args.features, "entities": args.entities,
                **{key: {"mlplat": m[key], "mlflow": f[key]} for key in ("p50_ms", "requests", "cpu_us_per_request")},
                "load_avg_1m": round(os.getloadavg()[0], 2),
            },
        }))
    finally:
        for proc in reversed(procs[1:]):
            stop(proc)
        if procs:
            procs[0].terminate()  # redis-server, in our own process group
            procs[0].wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
