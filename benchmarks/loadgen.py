"""A small HTTP/1.1 load generator (used when ``wrk`` is not installed): N keep-alive connections on asyncio.

Each connection sends one request, reads the whole response, and sends the
next (no pipelining), cycling through the JSON bodies of ``--bodies`` (one per
line). Prints one JSON line: rps, p50_ms, p99_ms, requests, errors (non-2xx,
and connections that failed).

    python benchmarks/loadgen.py --url http://127.0.0.1:8830/v1/predict/m --bodies b.jsonl --seconds 30
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


async def worker(host: str, port: int, requests: list[bytes], start: int, deadline: float,
                 latencies: list[float], errors: list[int]) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        errors[0] += 1
        return
    i = start
    while time.perf_counter() < deadline:
        began = time.perf_counter()
        writer.write(requests[i % len(requests)])
        i += 1
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            errors[0] += 1
            return
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - began)
        if not 200 <= status < 300:
            errors[0] += 1
    writer.close()


async def run(url: str, auth: str, bodies: list[bytes], seconds: float, connections: int) -> dict[str, float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = [
        (f"POST {parts.path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
         f"Authorization: {auth}\r\nContent-Length: {len(b)}\r\n\r\n").encode() + b
        for b in bodies
    ]
    latencies: list[float] = []
    errors = [0]
    began = time.perf_counter()
    deadline = began + seconds
    await asyncio.gather(*(worker(host, port, requests, k * 7, deadline, latencies, errors)
                           for k in range(connections)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    pick = ((lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000) if latencies
            else (lambda q: 0.0))
    return {"rps": len(latencies) / elapsed, "p50_ms": pick(0.50), "p99_ms": pick(0.99), "requests": len(latencies),
            "errors": errors[0]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--auth", default="")
    parser.add_argument("--bodies", required=True)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    with open(args.bodies, "rb") as fh:
        bodies = [line.rstrip(b"\n") for line in fh if line.strip()]
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(run(args.url, args.auth, bodies, args.seconds, args.connections))))


if __name__ == "__main__":
    main()
