"""Experiments benchmark (the Managed Experiments issue's four parts), as ONE JSON line.

(a) Inference Service requests/s with an experiment against without, same
    model, same load, one run (target ratio >= 0.9), and (b) stop propagation
    under load, p100 over ``--stops`` stops (target < 5 s): one service run,
    ``experiments_serving.py``.
(c) experiment results for ``--rows`` (default 10 million) outcome rows on
    Spark, end to end: seconds and peak memory, ``experiments_results.py``.
(d) our statistics against gbstats on the same sufficient statistics, max
    absolute difference of every shared figure, ``gbstats_compare.py``.

Each part runs as its own process, one after the other (so (c)'s peak memory
is Spark's and the driver's alone, not the (a)/(b) service's, and no part's
load slows another); each prints its own JSON line, which this one gathers
under its keys, with ``summary`` (the issue's headline figures and whether
their targets are met) first. A part skipped (``--skip c``) is null; a part
that fails is ``{"error": ...}`` and the exit status is 1.

    .venv/bin/python benchmarks/experiments.py                       # all four, 10 million rows in (c)
    .venv/bin/python benchmarks/experiments.py --rows 200000 --seconds 5 --stops 5   # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PARTS = ("a", "b", "c", "d")
KEYS = {"a": "a_rps", "b": "b_stop_propagation", "c": "c_results", "d": "d_gbstats"}  # part -> its key


def say(message: str) -> None:
    print(f"[experiments] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip", action="append", default=[], choices=PARTS, help="leave a part out; repeatable")
    serving = parser.add_argument_group("(a) and (b): experiments_serving.py")
    serving.add_argument("--workers", type=int, default=2)
    serving.add_argument("--seconds", type=float, default=10.0, help="seconds per (a) run")
    serving.add_argument("--rounds", type=int, default=2)
    serving.add_argument("--connections", type=int, default=32)
    serving.add_argument("--stops", type=int, default=20)
    results = parser.add_argument_group("(c): experiments_results.py")
    results.add_argument("--rows", type=int, default=10_000_000, help="outcome rows to simulate (about)")
    gbstats = parser.add_argument_group("(d): gbstats_compare.py")
    gbstats.add_argument("--gbstats-venv", help="gbstats' own venv (default: gbstats_compare.py's)")
    return parser.parse_args(argv)


def commands(args: argparse.Namespace) -> dict[str, list[str]]:
    """The process each part needs ((a) and (b) share one), keyed by the parts it answers."""
    out: dict[str, list[str]] = {}
    serving = "".join(p for p in "ab" if p not in args.skip)
    if serving:
        out[serving] = [str(HERE / "experiments_serving.py"), "--parts", serving, "--workers", str(args.workers),
                        "--seconds", str(args.seconds), "--rounds", str(args.rounds), "--connections",
                        str(args.connections), "--stops", str(args.stops)]
    if "c" not in args.skip:
        out["c"] = [str(HERE / "experiments_results.py"), "--rows", str(args.rows)]
    if "d" not in args.skip:
        out["d"] = [str(HERE / "gbstats_compare.py"), *(["--gbstats-venv", args.gbstats_venv]
                                                       if args.gbstats_venv else [])]
    return out


def run_part(argv: list[str]) -> tuple[dict[str, Any] | None, float, str | None]:
    """Run one part's script (its stderr shown as it goes); its JSON line, seconds, and an error or None."""
    began = time.monotonic()
    done = subprocess.run([sys.executable, *argv], stdout=subprocess.PIPE, stderr=sys.stderr, text=True,
                          cwd=HERE.parent, env={**os.environ, "PYTHONPATH": str(HERE.parent)})
    seconds = round(time.monotonic() - began, 1)
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        return None, seconds, f"{Path(argv[0]).name} exited {done.returncode}"
    try:
        found = json.loads(lines[-1])
    except json.JSONDecodeError:
        return None, seconds, f"{Path(argv[0]).name} printed no JSON line last"
    found.pop("benchmark", None)
    return found, seconds, None


def summary(out: dict[str, Any]) -> dict[str, Any]:
    """The headline figures the issue names, and whether each target is met (None where not measured)."""
    a, b = out.get("a_rps") or {}, out.get("b_stop_propagation") or {}
    c, d = out.get("c_results") or {}, out.get("d_gbstats") or {}
    ratio, p100 = a.get("ratio"), b.get("p100_s")
    return {
        "a_rps_ratio": ratio, "a_target_met": None if ratio is None else ratio >= 0.9,
        "b_stop_p100_s": p100, "b_target_met": None if p100 is None else p100 < 5.0,
        "c_outcome_rows": c.get("c_outcome_rows"), "c_results_seconds": c.get("c_results_seconds"),
        "c_peak_rss_mb": c.get("c_peak_rss_mb"), "d_max_abs_diff": d.get("max_abs_diff_overall"),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    out: dict[str, Any] = {"benchmark": "experiments", "summary": None, "a_rps": None, "b_stop_propagation": None,
                           "c_results": None, "d_gbstats": None, "seconds": {}, "skipped": sorted(set(args.skip))}
    failed = False
    for parts, argv_ in commands(args).items():
        say(f"part(s) {', '.join(parts)}: {Path(argv_[0]).name}")
        found, seconds, error = run_part(argv_)
        out["seconds"][parts] = seconds
        if error is not None:
            failed = True
            say(f"part(s) {', '.join(parts)} failed: {error}")
            out.update({KEYS[p]: {"error": error} for p in parts})
            continue
        assert found is not None
        if parts in ("ab", "a", "b"):
            out["detail"] = found.pop("detail", None)
            out.update({k: v for k, v in found.items() if k in ("a_rps", "b_stop_propagation") and v is not None})
        elif parts == "c":
            out["c_results"] = found
        else:
            out["d_gbstats"] = found
    out["summary"] = summary(out)
    print(json.dumps(out))
    if failed:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
