"""The cluster profile's Redis Cluster: six redis-server nodes on loopback, three masters with a replica each.

`mlplat up --profile cluster` starts it as one component whose process is the
supervisor below (``python -m mlplat.stack.redis_cluster``): it starts the six
nodes as its children, creates the cluster with ``redis-cli --cluster create``
on a fresh home (a home that has one already restarts it from the nodes'
``nodes.conf``), waits for ``cluster_state:ok`` and stays until it is told to
stop, when it stops the nodes. One pid in the stack's state, so `mlplat down`
stops the six nodes with it. A node that dies is logged, never restarted: a
failover is the cluster's job, and the fault tests kill nodes on purpose.

Two settings differ from Redis's defaults, both for failover:

- ``cluster-node-timeout`` is ``redis_cluster_node_timeout`` (2 s by default,
  Redis says 15 s): a killed master is declared failed, and its replica takes its
  slots, about this long after it stops answering;
- ``cluster-require-full-coverage no``: while one master is failing over, the
  other masters keep serving their own slots (Redis's default stops the whole
  cluster until every slot is served again);
- ``repl-diskless-sync-delay 0``: a replica gets its first copy at once, not after
  Redis's 5 s wait for other replicas to share it; until then it could not take
  over. The cluster counts as up (and `up` returns) only once every replica is in
  sync.

Health is read over a raw socket (``CLUSTER INFO`` on each node): the core needs
no Redis client to say whether the stack is up.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from mlplat.config import REDIS_CLUSTER_NODES, Settings
from mlplat.errors import StackError
from mlplat.stack.components import Component

NODES = REDIS_CLUSTER_NODES
REPLICAS = 1  # per master: 3 masters + 3 replicas
BUS_OFFSET = 10000  # each node's cluster bus listens on its port + this (Redis's own convention)
PIDS_FILE = "nodes.json"  # in the cluster's folder: {port: pid} of the running nodes, for fault tests


def node_ports(settings: Settings) -> list[int]:
    return [settings.redis_cluster_port + i for i in range(NODES)]


def cluster_dir(settings: Settings) -> Path:
    return settings.home / "redis-cluster"


def component(settings: Settings) -> list[Component]:
    """The Redis Cluster as a stack component (none when ``online_store_url`` names another online store)."""
    if not settings.embedded_redis_cluster:
        return []
    ports = node_ports(settings)
    if ports[-1] + BUS_OFFSET > 65535:
        highest = 65535 - BUS_OFFSET - NODES + 1
        raise StackError(f"redis_cluster_port {settings.redis_cluster_port} is too high: the cluster bus needs "
                         f"port + {BUS_OFFSET} for each of its {NODES} nodes; choose one up to {highest}")
    host = settings.host
    folder = cluster_dir(settings)
    return [Component(
        name="redis-cluster",
        url=settings.online_store,
        ports=("redis_cluster_port",),
        more_ports=(*ports[1:], *(p + BUS_OFFSET for p in ports)),
        command=[sys.executable, "-m", "mlplat.stack.redis_cluster", "--dir", str(folder), "--host", host,
                 "--port", str(ports[0]), "--node-timeout", str(settings.redis_cluster_node_timeout)],
        health=lambda: cluster_health(host, ports),
        cwd=folder,
    )]


# -- talking to the nodes without a client ------------------------------------------
def command(host: str, port: int, *args: str, timeout: float = 2.0) -> str:
    """One command over RESP on a fresh socket; the reply as text (a bulk or simple string).
    Raises OSError when the node does not answer, StackError on an error reply."""
    payload = f"*{len(args)}\r\n".encode() + b"".join(
        f"${len(a.encode())}\r\n".encode() + a.encode() + b"\r\n" for a in args)
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(payload)
        data = b""
        while b"\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError(f"{host}:{port} closed the connection")
            data += chunk
        head, _, rest = data.partition(b"\r\n")
        if head.startswith(b"-"):
            raise StackError(f"Redis at {host}:{port} answered {head[1:].decode(errors='replace')}")
        if not head.startswith(b"$"):
            return head[1:].decode(errors="replace")
        size = int(head[1:])
        while len(rest) < size:
            chunk = sock.recv(65536)
            if not chunk:
                raise OSError(f"{host}:{port} closed the connection")
            rest += chunk
        return rest[:size].decode(errors="replace")


def _info(host: str, port: int, section: str) -> dict[str, str]:
    """``INFO section`` (or ``CLUSTER INFO`` for "cluster-state") of one node; empty when it does not answer."""
    args = ("CLUSTER", "INFO") if section == "cluster-state" else ("INFO", section)
    try:
        text = command(host, port, *args, timeout=1.0)
    except (OSError, StackError):
        return {}
    return dict(line.strip().split(":", 1) for line in text.splitlines() if ":" in line)


def cluster_health(host: str, ports: list[int]) -> tuple[bool, str]:
    """Healthy when the nodes that answer all say ``cluster_state:ok`` with every slot served, and every replica
    that answers has its copy of its master's data (``master_link_status:up``: it could take over now).

    A node that is down (killed, failed over) leaves the cluster healthy while its
    slots are served by another; the detail says how many nodes answer.
    """
    infos = [_info(host, p, "cluster-state") for p in ports]
    answering = [(p, i) for p, i in zip(ports, infos) if i]
    if not answering:
        return False, f"no node answers on {host}:{ports[0]}-{ports[-1]}"
    states = {i.get("cluster_state", "?") for _, i in answering}
    slots_ok = min(int(i.get("cluster_slots_ok", "0")) for _, i in answering)
    masters = max(int(i.get("cluster_size", "0")) for _, i in answering)
    links = [_info(host, p, "replication") for p, _ in answering]
    replicas = [r for r in links if r.get("role") == "slave"]
    synced = sum(1 for r in replicas if r.get("master_link_status") == "up")
    detail = (f"cluster_state:{'/'.join(sorted(states))}, {len(answering)}/{len(ports)} nodes answer, "
              f"{masters} masters, {slots_ok} slots served, {synced}/{len(replicas)} replicas in sync")
    return states == {"ok"} and slots_ok == 16384 and synced == len(replicas), detail


# -- the supervisor -------------------------------------------------------------------
def _node_command(host: str, port: int, folder: Path, node_timeout: int) -> list[str]:
    return [
        "redis-server", "--port", str(port), "--bind", host, "--protected-mode", "yes", "--daemonize", "no",
        "--dir", str(folder), "--logfile", str(folder / "redis.log"), "--save", "300 1", "--appendonly", "no",
        "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf", "--cluster-port", str(port + BUS_OFFSET),
        "--cluster-node-timeout", str(node_timeout), "--cluster-require-full-coverage", "no",
        # A replica's first copy starts at once (Redis waits 5 s for more replicas to share it): until it has
        # one, a replica cannot take over.
        "--repl-diskless-sync-delay", "0",
    ]


def _wait(what: str, ready: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not ready():
        if time.monotonic() > deadline:
            raise StackError(f"the Redis Cluster: {what} within {seconds:.0f} s")
        time.sleep(0.1)


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _create(host: str, ports: list[int]) -> None:
    cli = shutil.which("redis-cli")
    if cli is None:
        raise StackError("redis-cli is not installed (it creates the Redis Cluster): install Debian's redis-tools")
    proc = subprocess.run([cli, "--cluster", "create", *(f"{host}:{p}" for p in ports),
                           "--cluster-replicas", str(REPLICAS), "--cluster-yes"],
                          capture_output=True, text=True, timeout=60)
    print(proc.stdout, proc.stderr, sep="\n", flush=True)
    if proc.returncode != 0:
        raise StackError(f"redis-cli --cluster create failed ({proc.returncode}): {proc.stderr or proc.stdout}")


def serve(folder: Path, host: str, first_port: int, node_timeout: int, start_timeout: float = 60.0) -> None:
    """Run the cluster until SIGTERM/SIGINT: start the nodes, create (or rejoin) the cluster, watch, stop."""
    ports = [first_port + i for i in range(NODES)]
    folder.mkdir(parents=True, exist_ok=True)
    fresh = not all((folder / str(p) / "nodes.conf").exists() for p in ports)
    if fresh:  # a half-made cluster cannot be rejoined: start over
        for p in ports:
            shutil.rmtree(folder / str(p), ignore_errors=True)
    stop: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        stop.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    nodes: dict[int, subprocess.Popen[bytes]] = {}
    try:
        for p in ports:
            (folder / str(p)).mkdir(exist_ok=True)
            nodes[p] = subprocess.Popen(_node_command(host, p, folder / str(p), node_timeout),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        (folder / PIDS_FILE).write_text(json.dumps({str(p): proc.pid for p, proc in nodes.items()}))
        for p in ports:
            node = nodes[p]
            _wait(f"node {p} did not listen (see {folder / str(p) / 'redis.log'})",
                  lambda: _listening(host, p) or node.poll() is not None, start_timeout)  # noqa: B023 - called here
            if node.poll() is not None:
                raise StackError(f"the Redis Cluster: node {p} exited; see {folder / str(p) / 'redis.log'}")
        if fresh:
            _create(host, ports)
        _wait("did not reach cluster_state:ok with every replica in sync", lambda: cluster_health(host, ports)[0],
              start_timeout)
        print(f"Redis Cluster ready on {host}:{ports[0]}-{ports[-1]}: {cluster_health(host, ports)[1]}", flush=True)
        reported: set[int] = set()
        while not stop:
            for p, proc in nodes.items():
                if p not in reported and proc.poll() is not None:
                    reported.add(p)
                    print(f"node {p} exited with {proc.returncode}; not restarted (its replica takes its slots)",
                          flush=True)
            time.sleep(0.2)
    finally:
        for proc in nodes.values():
            if proc.poll() is None:
                proc.terminate()
        deadline = time.monotonic() + 15
        for proc in nodes.values():
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        (folder / PIDS_FILE).unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlplat.stack.redis_cluster", description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="the first node's port; the others follow")
    parser.add_argument("--node-timeout", type=int, default=2000, help="cluster-node-timeout, ms")
    args = parser.parse_args(argv)
    try:
        serve(args.dir, args.host, args.port, args.node_timeout)
    except StackError as exc:
        print(f"error: {exc.message}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
