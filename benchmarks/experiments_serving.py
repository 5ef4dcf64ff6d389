"""Experiments benchmark parts (a) and (b): what an experiment costs the Inference Service, and how fast a
stop reaches it (one service, so one run gives both; ``benchmarks/experiments.py`` runs it for its line).

(a) requests/s with an experiment against without, same model, same load, one
    run, one service: ``/v1/predict/bench_model`` against
    ``/v1/experiments/bench_same/predict``, a 50/50 experiment whose two arms
    serve that same model (what the experiment itself costs: assignment,
    routing, the answer's and the log's extra fields). ``two_versions`` adds
    ``/v1/experiments/bench_ab/predict``, whose treatment is a second version
    (v2, the same trees): each micro-batch then makes one model call per
    version, which for a 200-tree booster costs more than everything else the
    experiment adds, and is the price of comparing two models at all.
    The sides alternate without, with, two_versions, two_versions, with,
    without (``--rounds`` times, ``--seconds`` each, after a warm-up) and each
    side's figure is the mean of its runs, so a drift of the machine's load
    favours none. Target ratio (with / without) >= 0.9. On a shared machine
    requests/s swing with the other tenants' load; the service's CPU time per
    request (its process tree's user + system) is given beside them.
(b) stop propagation under load: while ``benchmarks/loadgen.py`` drives the
    experiment, the experiment is stopped ``--stops`` times (the feed's record
    rewritten, then the change published on ``CHANGES_CHANNEL``, as the
    Experiment Manager's stop does before it returns). A prober holds one
    keep-alive connection per worker process (found by ``/healthz``'s pid) and
    asks each, in turn, for units the hash puts in treatment; a worker has the
    stop when it answers ``arm: null`` and never treatment again. The figure is
    the time from the stop returning to the last worker's first control answer
    (p100 and p50 over the stops); between stops the experiment is restarted
    and every worker is seen answering treatment again. Target p100 < 5 s.

The feed is ``tests/integration/experiment_feed_double.py`` (a dict in a JSON
file every worker reads) until ``Platform.experiment_feed`` is the Experiment
Manager's store. Prints one JSON line (the last on stdout):

    .venv/bin/python benchmarks/experiments_serving.py [--workers 2] [--seconds 10] [--rounds 2] [--stops 20]
        [--connections 32]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DOUBLE = ROOT / "tests" / "integration"
for _path in (str(ROOT), str(HERE), str(DOUBLE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

import inference as inference_bench  # noqa: E402  (the model, its home, the load drivers)
import online_store as online_bench  # noqa: E402
from experiment_feed_double import FEED_ENV, write_feed  # noqa: E402
from proctree import tree_cpu_seconds  # noqa: E402

MODEL = inference_bench.MODEL
EXPERIMENT = "bench_ab"  # control v1, treatment v2: (b) stops this one
SAME = "bench_same"  # both arms v1
TOKEN = "Bearer bench-token"


def say(message: str) -> None:
    print(f"[experiments] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--entities", type=int, default=20_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--stops", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2,
                        help="rounds of (a), each: without, with, two_versions twice, with, without")
    parser.add_argument("--load", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--parts", default="ab", help="which of (a) and (b) to run: ab, a or b")
    return parser.parse_args(argv)


def live_row(status: str = "running", name: str = EXPERIMENT) -> dict[str, Any]:
    treatment = f"{MODEL}/2" if name == EXPERIMENT else f"{MODEL}/1"
    return {"name": name, "team": "bench", "phase": 1, "status": status,
            "arms": [{"name": "control", "model": MODEL}, {"name": "treatment", "model": treatment}],
            "assignment": {"seed": name, "weights": [0.5, 0.5]}, "hash_attribute": "user_id", "sticky": False}


def rows(status: str = "running") -> dict[str, dict[str, Any]]:
    return {EXPERIMENT: live_row(status), SAME: live_row(name=SAME)}


def register_second_version(settings: Any) -> None:
    """v2 of the benchmark model: the same pipeline registered again (the treatment arm)."""
    from mlplat.models.evaluate import EvaluationReport
    from mlplat.models.repository import environment
    from mlplat.platform import Platform

    platform = Platform(settings)
    _, pipeline = platform.repository.load_pipeline(MODEL, 1)
    platform.repository.register(MODEL, pipeline, {"environment": environment(), "task": "classification",
                                                   "kind": "xgboost"},
                                 EvaluationReport("classification", {}, 0, "random"), team="bench", created_by="bench",
                                 alias=None)
    platform.db.dispose()


def start_service(settings: Any, workers: int, feed: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MLPLAT_HOME": str(settings.home), "MLPLAT_ONLINE_STORE_URL": settings.online_store,
           "MLPLAT_MLFLOW_TRACKING_URI": settings.mlflow, "MLPLAT_INFERENCE_PORT": str(settings.inference_port),
           FEED_ENV: str(feed), "PYTHONPATH": os.pathsep.join([str(ROOT), str(DOUBLE)])}
    return subprocess.Popen(
        [sys.executable, str(DOUBLE / "experiment_feed_double.py"), "--port", str(settings.inference_port),
         "--workers", str(workers), "--log-file", str(log)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True)


# -- (b) the prober ---------------------------------------------------------------
class Prober:
    """One keep-alive connection per worker process; ``arms()`` asks each worker once for a treatment unit."""

    def __init__(self, port: int, workers: int, treated: list[str]) -> None:
        self.port, self.treated, self.k = port, treated, 0
        self.conns: dict[int, http.client.HTTPConnection] = {}
        for _ in range(200):
            if len(self.conns) == workers:
                break
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/healthz")
            pid = json.loads(conn.getresponse().read())["pid"]
            if pid in self.conns:
                conn.close()
            else:
                self.conns[pid] = conn
        if len(self.conns) != workers:
            raise SystemExit(f"reached {len(self.conns)} of {workers} workers")

    def arms(self) -> dict[int, tuple[float, str | None]]:
        """worker pid -> (when its answer came, its arm)."""
        out = {}
        for pid, conn in self.conns.items():
            self.k += 1
            body = json.dumps({"user_id": self.treated[self.k % len(self.treated)], "features": {}})
            conn.request("POST", f"/v1/experiments/{EXPERIMENT}/predict", body,
                         {"Content-Type": "application/json", "Authorization": TOKEN})
            answer = json.loads(conn.getresponse().read())
            out[pid] = (time.monotonic(), answer.get("arm"))
        return out

    def until(self, arm: str | None, since: float, settle: float = 0.5, timeout: float = 60.0) -> float:
        """Seconds from ``since`` until every worker answers ``arm`` and keeps doing so for ``settle`` s."""
        first: dict[int, float] = {}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for pid, (at, got) in self.arms().items():
                if got == arm:
                    first.setdefault(pid, at)
                else:
                    first.pop(pid, None)  # answered the old arm again: not there yet
            if len(first) == len(self.conns) and time.monotonic() - max(first.values()) >= settle:
                return max(first.values()) - since
        raise SystemExit(f"workers did not all answer arm={arm} within {timeout:.0f} s")


def stop_propagation(settings: Any, feed: Path, workers: int, stops: int, load: Any) -> dict[str, Any]:
    import redis

    from mlplat.experiments.live import CHANGES_CHANNEL, LiveExperiment

    exp = LiveExperiment.from_json(live_row())
    treated = [f"u{i}" for i in range(2000) if exp.assign(f"u{i}").arm == 1][:200]
    prober = Prober(settings.inference_port, workers, treated)
    client = redis.Redis.from_url(settings.online_store)
    loader = threading.Thread(target=load, daemon=True)
    loader.start()
    times, restarts = [], []
    try:
        for k in range(stops):
            write_feed(feed, rows("running"))
            client.publish(CHANGES_CHANNEL, EXPERIMENT)
            restarts.append(prober.until("treatment", time.monotonic()))
            write_feed(feed, rows("stopped"))
            client.publish(CHANGES_CHANNEL, EXPERIMENT)
            returned = time.monotonic()  # the stop has returned: stored, then announced
            times.append(max(0.0, prober.until(None, returned)))
            say(f"stop {k + 1}/{stops}: every worker answers control after {times[-1] * 1000:.1f} ms")
    finally:
        loader.join()
    return {"p100_s": round(max(times), 4), "p50_s": round(statistics.median(times), 4), "stops": stops,
            "restart_p100_s": round(max(restarts), 4), "all_s": [round(t, 4) for t in times]}


def throughput(args: argparse.Namespace, load: str, url: str, sides: dict[str, tuple[str, Path]],
               proc: subprocess.Popen[bytes], work: Path) -> dict[str, Any]:
    """(a): requests/s per side, the sides alternating, each side's mean over its runs."""
    for path, bodies in sides.values():
        inference_bench.drive(load, url, path, TOKEN, bodies, args.warmup, args.connections, work)
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    for side in ("without", "with", "two_versions", "two_versions", "with", "without") * args.rounds:
        path, bodies = sides[side]
        cpu = tree_cpu_seconds(proc.pid)
        run = inference_bench.drive(load, url, path, TOKEN, bodies, args.seconds, args.connections, work)
        run["cpu_us_per_request"] = (tree_cpu_seconds(proc.pid) - cpu) * 1e6 / max(1, run["requests"])
        runs[side].append(run)
        say(f"{side}: {run}")
    rps = {side: statistics.mean(r["rps"] for r in rs) for side, rs in runs.items()}
    p99 = {side: round(statistics.mean(r["p99_ms"] for r in rs), 2) for side, rs in runs.items()}
    cpu_us = {side: statistics.mean(r["cpu_us_per_request"] for r in rs) for side, rs in runs.items()}
    return {"with_experiment": round(rps["with"], 1), "without": round(rps["without"], 1),
            "ratio": round(rps["with"] / rps["without"], 3), "two_versions": round(rps["two_versions"], 1),
            "two_versions_ratio": round(rps["two_versions"] / rps["without"], 3),
            "errors": sum(r["errors"] for rs in runs.values() for r in rs),
            "p99_ms": p99, "cpu_us_per_request": {side: round(v, 1) for side, v in cpu_us.items()},
            "cpu_ratio": round(cpu_us["without"] / cpu_us["with"], 3),
            "two_versions_cpu_ratio": round(cpu_us["without"] / cpu_us["two_versions"], 3),
            "runs_rps": {side: [round(r["rps"], 1) for r in rs] for side, rs in runs.items()}}


def main() -> None:
    args = parse_args()
    load = args.load if args.load != "auto" else ("wrk" if shutil.which("wrk") else "python")
    work = Path(tempfile.mkdtemp(prefix="mlplat-bench-experiments-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        redis_proc, redis_url = online_bench.start_redis(work)
        procs.append(redis_proc)
        say(f"training XGBoost ({args.trees} trees, {args.features} features)")
        settings = inference_bench.setup_mlplat(work / "home", redis_url,
                                                inference_bench.train_model(args.features, args.trees),
                                                args.entities, args.features)
        register_second_version(settings)
        feed = work / "experiments.json"
        write_feed(feed, rows())
        import numpy as np

        users = np.random.default_rng(2).integers(0, args.entities, size=5000)
        plain, routed = work / "plain.jsonl", work / "routed.jsonl"
        plain.write_text("".join(json.dumps({"entity": {"user_id": f"u{u}"}, "features": {}}) + "\n" for u in users))
        routed.write_text("".join(json.dumps({"user_id": f"u{u}", "features": {}}) + "\n" for u in users))

        say(f"starting {args.workers} worker(s)")
        proc = start_service(settings, args.workers, feed, work / "service.log")
        procs.append(proc)
        url = f"http://127.0.0.1:{settings.inference_port}"
        inference_bench.wait_http(url + "/readyz", proc)
        sides = {"without": (f"/v1/predict/{MODEL}", plain), "with": (f"/v1/experiments/{SAME}/predict", routed),
                 "two_versions": (f"/v1/experiments/{EXPERIMENT}/predict", routed)}
        out: dict[str, Any] = {"benchmark": "experiments_serving", "a_rps": None, "b_stop_propagation": None}
        if "a" in args.parts:
            out["a_rps"] = throughput(args, load, url, sides, proc, work)
        if "b" in args.parts:
            under_load: dict[str, Any] = {}

            def background() -> None:
                path, bodies = sides["two_versions"]
                seconds = max(5.0, args.stops * 1.5)
                under_load.update(inference_bench.drive(load, url, path, TOKEN, bodies, seconds, args.connections,
                                                        work))

            say(f"(b) {args.stops} stops under load ({args.connections} connections on the experiment)")
            stop = stop_propagation(settings, feed, args.workers, args.stops, background)
            out["b_stop_propagation"] = {**stop, "load_rps": round(under_load.get("rps", 0.0), 1),
                                         "load_errors": under_load.get("errors")}
        print(json.dumps({
            **out,
            "detail": {"workers": args.workers, "connections": args.connections, "seconds": args.seconds,
                       "load": load, "trees": args.trees, "features": args.features, "entities": args.entities,
                       "load_avg_1m": round(os.getloadavg()[0], 2)},
        }))
    finally:
        for proc in reversed(procs[1:]):
            inference_bench.stop(proc)
        if procs:
            procs[0].terminate()
            procs[0].wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
