"""The cluster profile's Spark standalone cluster: one master and its workers on loopback, from pip's PySpark.

`mlplat up --profile cluster` starts it as one component whose process is the
supervisor below (``python -m mlplat.stack.spark_cluster``): it starts the
master (``spark-class ...deploy.master.Master``), waits until it listens, starts
the workers (``...deploy.worker.Worker spark://...``, ``spark_worker_cores`` and
``spark_worker_memory`` each), writes their pids to ``pids.json`` (the fault
tests kill one) and stays until it is told to stop, when it stops them. One pid in
the stack's state, so `mlplat down` stops the whole cluster. A worker that dies is
logged, never restarted: losing a worker is what the fault tests do on purpose,
and Spark's job is to finish on the others.

What the workers need to run the platform's jobs, on one machine:

- the lake: the same folder (``file://`` URLs mean the same files to every JVM here);
- the platform's Python: executors start Python workers (``mapInPandas``, UDFs) with
  the interpreter the driver names (``PYSPARK_PYTHON``, set by ``mlplat.spark``), and
  inherit this process's environment (``PYTHONPATH`` included), so they import the
  same mlplat and the same packages as the driver.

Health is the master's own account (``/json`` on its web UI): healthy while as many
workers as configured are ALIVE.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from mlplat.config import Settings
from mlplat.errors import ConfigError, StackError
from mlplat.stack.components import Component

PIDS_FILE = "pids.json"  # in the cluster's folder: {"master": pid, "worker-1": pid, ...}
MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"
DAEMON_MEMORY = "512m"  # the master's and workers' own JVMs (executors get spark_worker_memory)


def spark_home() -> Path:
    """The PySpark installation's folder (it holds ``bin/spark-class`` and ``jars/``)."""
    try:
        from pyspark.find_spark_home import _find_spark_home
    except ImportError:
        raise ConfigError("the Spark cluster needs PySpark: pip install 'mlplat[spark]'") from None
    return Path(_find_spark_home())


def cluster_dir(settings: Settings) -> Path:
    return settings.home / "spark-cluster"


def daemon_env() -> dict[str, str]:
    """What the master, the workers and the executors they start inherit besides this process's environment."""
    home = spark_home()
    return {
        "SPARK_HOME": str(home),
        "SPARK_DAEMON_MEMORY": DAEMON_MEMORY,
        # Executors run Python workers with the driver's interpreter; these make the default the platform's.
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_NO_DAEMONIZE": "1",
    }


def component(settings: Settings) -> list[Component]:
    """The Spark standalone cluster as a stack component."""
    if settings.spark_cluster_workers < 1:
        raise ConfigError(f"spark_cluster_workers must be at least 1, got {settings.spark_cluster_workers}")
    host, webui, workers = settings.host, settings.spark_cluster_webui_port, settings.spark_cluster_workers
    return [Component(
        name="spark-cluster",
        url=settings.spark_cluster_master,
        ports=("spark_cluster_port", "spark_cluster_webui_port"),
        command=[sys.executable, "-m", "mlplat.stack.spark_cluster", "--dir", str(cluster_dir(settings)),
                 "--host", host, "--port", str(settings.spark_cluster_port), "--webui-port", str(webui),
                 "--workers", str(workers), "--cores", str(settings.spark_worker_cores),
                 "--memory", settings.spark_worker_memory],
        health=lambda: cluster_health(host, webui, workers),
        env=daemon_env(),
        cwd=cluster_dir(settings),
    )]


def master_state(host: str, webui_port: int, timeout: float = 2.0) -> dict[str, Any]:
    """The master's JSON (its status, every worker and application it knows); empty when it does not answer."""
    try:
        response = httpx.get(f"http://{host}:{webui_port}/json/", timeout=timeout)
        return dict(response.json()) if response.status_code == 200 else {}
    except (httpx.HTTPError, ValueError):
        return {}


def alive_workers(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [w for w in state.get("workers") or [] if isinstance(w, dict) and w.get("state") == "ALIVE"]


def cluster_health(host: str, webui_port: int, workers: int) -> tuple[bool, str]:
    """Healthy when the master is ALIVE with ``workers`` workers ALIVE."""
    state = master_state(host, webui_port)
    if not state:
        return False, f"the master's web UI does not answer on {host}:{webui_port}"
    alive = alive_workers(state)
    cores = sum(int(w.get("cores", 0)) for w in alive)
    detail = f"master {state.get('status', '?')}, {len(alive)}/{workers} workers alive, {cores} cores"
    return state.get("status") == "ALIVE" and len(alive) >= workers, detail


# -- the supervisor -------------------------------------------------------------------
def _spark_class(*args: str) -> list[str]:
    return [str(spark_home() / "bin" / "spark-class"), *args]


def _wait(what: str, ready: Callable[[], bool], seconds: float, died: Callable[[], bool]) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if died():
            raise StackError(f"the Spark cluster: {what}: the process exited")
        if time.monotonic() > deadline:
            raise StackError(f"the Spark cluster: {what} within {seconds:.0f} s")
        time.sleep(0.2)


def serve(folder: Path, host: str, port: int, webui_port: int, workers: int, cores: int, memory: str,
          start_timeout: float = 120.0) -> None:
    """Run the cluster until SIGTERM/SIGINT: start the master, then the workers, watch, stop."""
    folder.mkdir(parents=True, exist_ok=True)
    stop: list[int] = []
    signal.signal(signal.SIGTERM, lambda signum, _frame: stop.append(signum))
    signal.signal(signal.SIGINT, lambda signum, _frame: stop.append(signum))
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def launch(name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (folder / f"{name}.log").open("ab")
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=folder)
        procs[name] = proc
        (folder / PIDS_FILE).write_text(json.dumps({n: p.pid for n, p in procs.items()}))
        return proc

    try:
        master = launch("master", _spark_class(MASTER_CLASS, "--host", host, "--port", str(port),
                                               "--webui-port", str(webui_port)))
        _wait(f"the master did not answer on {host}:{webui_port} (see {folder / 'master.log'})",
              lambda: bool(master_state(host, webui_port)), start_timeout, lambda: master.poll() is not None)
        for i in range(1, workers + 1):
            work = folder / f"worker-{i}"
            work.mkdir(exist_ok=True)
            # Ports 0: each worker's RPC and web UI take free ports, so any number of them fit on one host.
            launch(f"worker-{i}", _spark_class(WORKER_CLASS, f"spark://{host}:{port}", "--host", host,
                                               "--port", "0", "--webui-port", "0", "--cores", str(cores),
                                               "--memory", memory, "--work-dir", str(work)))
        _wait(f"{workers} workers did not register with the master", lambda: cluster_health(
            host, webui_port, workers)[0], start_timeout, lambda: any(p.poll() is not None for p in procs.values()))
        print(f"Spark cluster ready at spark://{host}:{port}: {cluster_health(host, webui_port, workers)[1]}",
              flush=True)
        reported: set[str] = set()
        while not stop:
            for name, proc in procs.items():
                if proc.poll() is not None and name not in reported:
                    reported.add(name)
                    print(f"{name} (pid {proc.pid}) exited with {proc.returncode}; not restarted", flush=True)
            time.sleep(0.5)
    finally:
        for proc in reversed(list(procs.values())):
            if proc.poll() is None:
                proc.terminate()
        for proc in procs.values():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        (folder / PIDS_FILE).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlplat.stack.spark_cluster", description=__doc__.split("\n")[0])
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--webui-port", required=True, type=int)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cores", type=int, default=1)
    parser.add_argument("--memory", default="1g")
    args = parser.parse_args(argv)
    try:
        serve(args.dir, args.host, args.port, args.webui_port, args.workers, args.cores, args.memory)
    except StackError as exc:
        print(exc.message, file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
