"""Monitoring benchmark: mlplat's drift report against Evidently's DataDriftPreset, same data, same run.

Part 1, ``drift``: ``--current-rows`` (100,000) current rows x 55 columns (40
numeric, 15 categorical) against a ``--reference-rows`` (100,000) reference,
generated once with drift planted in a known set of columns (:data:`PLANTED`)
and written to Parquet. Each side runs in its own process, and this process
samples the resident memory of that process tree (every 20 ms; the child's own
``ru_maxrss`` too, and the larger is kept): ours with the project's venv
(``--child``, below), Evidently 0.7.23 from its own venv through
``benchmarks/evidently_side.py`` (created on first use, ``--evidently-venv``;
pandas pinned below 3, which Evidently 0.7.23 cannot import with). Each side
reads both Parquet files into its own frame (pyarrow Tables for us, pandas for
Evidently: ``load_s``), then the drift computation alone is timed
(``seconds``): ``drift_report(reference, current)`` (exact two-sample
statistics) for us, ``Report([DataDriftPreset()]).run(current, reference)`` on
Datasets with an explicit data definition (so neither side guesses a column's
type) for Evidently. Both sides' verdicts are scored against the planted set:
planted columns flagged and missed, unplanted ones flagged. ``detail.mlplat``
adds the hourly route: building the stored reference profile once, and a
comparison against it.

Part 2, ``hourly_pass``: the Monitoring Service's hourly pass over
``--log-rows`` (1,000,000) logged predictions, seconds and peak memory
(``benchmarks/monitoring_pass.py``).

Ratios are Evidently / mlplat (> 1: mlplat is faster or smaller). Progress goes
to stderr; the last line on stdout is the one JSON result.

    .venv/bin/python benchmarks/monitoring.py [--no-evidently] [--evidently-venv PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for _path in (str(ROOT), str(HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from peer_venv import create, pip, probe  # noqa: E402
from proctree import tree_rss_bytes  # noqa: E402

EVIDENTLY_SIDE = HERE / "evidently_side.py"
DEFAULT_EVIDENTLY_VENV = Path.home() / ".cache" / "mlplat-bench" / "evidently-venv"
EVIDENTLY_WANTED = "0.7.23"
NUMERIC, CATEGORICAL = 40, 15
# column -> what changes in the current data (every other column is drawn from the reference's distribution)
PLANTED = {
    "num_00": "mean + 0.5 std",
    "num_05": "std x 1.5",
    "num_10": "lognormal shape: sigma 0.5 -> 0.8",
    "num_15": "20% of the rows from a new mode 3 std above the mean",
    "num_20": "mean + 0.25 std",
    "num_25": "missing rate 1% -> 20% (the values themselves unchanged)",
    "cat_00": "category shares reversed",
    "cat_04": "a new category on 10% of the rows",
    "cat_08": "the most frequent category's share 7% -> 20%",
    "cat_12": "a category holding 20% of the rows vanishes",
}
_began = time.perf_counter()


def say(message: str) -> None:
    print(f"[{time.perf_counter() - _began:7.1f}s] {message}", file=sys.stderr, flush=True)


def _arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--current-rows", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--only", choices=sorted(PARTS), action="append", help="run only these parts")
    parser.add_argument("--evidently-venv", type=Path, default=DEFAULT_EVIDENTLY_VENV)
    parser.add_argument("--evidently-spec", default=f"evidently=={EVIDENTLY_WANTED}")
    parser.add_argument("--no-evidently", action="store_true", help="our side only (Evidently figures null)")
    parser.add_argument("--log-rows", type=int, default=1_000_000, help="logged predictions for the hourly pass")
    parser.add_argument("--workdir", type=Path, default=None, help="where the data goes (a temp folder by default)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--child", choices=["mlplat"], default=None, help=argparse.SUPPRESS)  # internal: our side
    return parser.parse_args(argv)


# -- Evidently's virtual environment ------------------------------------------
def ensure_evidently(venv: Path, spec: str) -> str:
    """Evidently's own venv (created and installed when missing or broken); returns the installed version."""
    code = "from importlib.metadata import version; import evidently, pyarrow; print(version('evidently'))"
    found = probe(venv, code)
    if found:
        return found
    say(f"creating Evidently's venv at {venv} and installing {spec!r} with pandas<3 (a few minutes)")
    create(venv)
    pip(venv, "install", "--quiet", spec, "pandas<3", "pyarrow")  # pandas 3 breaks Evidently 0.7.23's import
    found = probe(venv, code)
    if not found:
        raise SystemExit(f"Evidently's venv at {venv} does not import evidently after the install (see above)")
    return found


# -- data ---------------------------------------------------------------------
def _numeric(rng: Any, i: int, n: int, planted: bool) -> Any:
    """Column num_i: a distribution that cycles with i (normal, lognormal, exponential, uniform, counts)."""
    import numpy as np

    name = f"num_{i:02d}"
    shape = i % 5
    if name == "num_10":
        x = rng.lognormal(0, 0.8 if planted else 0.5, n)
    elif shape == 0:
        x = rng.normal(10 + i, 1 + i / 10, n)
    elif shape == 1:
        x = rng.lognormal(0, 0.5, n)
    elif shape == 2:
        x = rng.exponential(2, n)
    elif shape == 3:
        x = rng.uniform(-1, 1, n)
    else:
        x = rng.poisson(4, n).astype(np.float64)
    if planted and name == "num_00":
        x = x + 0.5 * (1 + i / 10)
    if planted and name == "num_20":
        x = x + 0.25 * (1 + i / 10)
    if planted and name == "num_05":  # a normal: widen around its mean
        x = 15 + (x - 15) * 1.5
    if planted and name == "num_15":  # a normal: a fifth of the rows from a new mode
        x = np.where(rng.random(n) < 0.2, 25 + 3 * 2.5 + rng.normal(0, 2.5, n), x)
    missing = 0.2 if planted and name == "num_25" else 0.01
    return np.where(rng.random(n) < missing, np.nan, x)


def _categorical(rng: Any, i: int, n: int, planted: bool) -> Any:
    """Column cat_i: 3 to 31 categories with unequal shares, 1% missing."""
    import numpy as np
    import pyarrow as pa

    name = f"cat_{i:02d}"
    k = 3 + 2 * i
    labels = np.array([f"{name}_v{j}" for j in range(k)], dtype=object)
    shares = np.linspace(2, 1, k)
    shares = shares / shares.sum()
    if planted and name == "cat_00":
        shares = shares[::-1]
    if planted and name == "cat_08":
        shares = np.concatenate([[0.2], 0.8 * shares[1:] / shares[1:].sum()])
    if name == "cat_12":  # the reference's v0 holds 20% of the rows; in the current data it is gone
        shares = np.concatenate([[0.2], 0.8 * shares[1:] / shares[1:].sum()])
        if planted:
            shares = np.concatenate([[0.0], shares[1:] / shares[1:].sum()])
    values = labels[rng.choice(k, n, p=shares)]
    if planted and name == "cat_04":
        values = np.where(rng.random(n) < 0.1, f"{name}_new", values)
    values = np.where(rng.random(n) < 0.01, None, values)
    return pa.array(values.tolist(), pa.string())


def write_data(folder: Path, reference_rows: int, current_rows: int, seed: int) -> dict[str, Path]:
    """The reference and current tables as Parquet (one file each), drawn once."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for side, n, planted in (("reference", reference_rows, False), ("current", current_rows, True)):
        rng = np.random.default_rng([seed, planted])
        columns = {f"num_{i:02d}": pa.array(_numeric(rng, i, n, planted)) for i in range(NUMERIC)}
        columns.update({f"cat_{i:02d}": _categorical(rng, i, n, planted) for i in range(CATEGORICAL)})
        paths[side] = folder / f"{side}.parquet"
        pq.write_table(pa.table(columns), paths[side])
    (folder / "columns.json").write_text(json.dumps({
        "numeric": [f"num_{i:02d}" for i in range(NUMERIC)],
        "categorical": [f"cat_{i:02d}" for i in range(CATEGORICAL)]}))
    return paths


# -- the two sides, each in its own process -----------------------------------
def mlplat_child(work: Path) -> dict[str, Any]:
    """Our side (``--child mlplat``): read, time the exact report, then the hourly route through a profile."""
    began = time.perf_counter()
    import pyarrow.parquet as pq

    from mlplat.monitoring import ReferenceProfile, build_profile, drift_report

    drift_report({"x": [0.0] * 200, "c": ["a"] * 200}, {"x": [1.0] * 200, "c": ["b"] * 200})  # scipy's lazy imports
    imported = time.perf_counter() - began
    t0 = time.perf_counter()
    reference, current = pq.read_table(work / "reference.parquet"), pq.read_table(work / "current.parquet")
    load = time.perf_counter() - t0
    t0 = time.perf_counter()
    cpu0 = time.process_time()
    report = drift_report(reference, current)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    t0 = time.perf_counter()
    text = build_profile(reference).to_json()
    profile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    hourly = drift_report(ReferenceProfile.from_json(text), current)
    hourly_s = time.perf_counter() - t0
    return {
        "import_s": imported, "load_s": load, "seconds": seconds, "cpu_seconds": cpu,
        "flagged": [c.name for c in report.drifted],
        "reasons": {c.name: c.reasons[0] for c in report.drifted},
        "profile": {"build_s": profile_s, "json_bytes": len(text), "compare_s": hourly_s,
                    "flagged": [c.name for c in hourly.drifted]},
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run_measured(command: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one side; its last stdout line is its JSON answer; add the process tree's peak RSS and wall time."""
    began = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=sys.stderr, text=True, env=env)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss_bytes(proc.pid))
        time.sleep(0.02)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise SystemExit(f"{command[1]} failed with exit code {proc.returncode} (its stderr is above)")
    answer: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    answer["peak_rss_mb"] = max(peak / 2**20, answer.pop("max_rss_mb", 0.0))
    answer["process_s"] = time.perf_counter() - began
    return answer


def score(flagged: list[str]) -> dict[str, list[str]]:
    return {"flagged_planted": sorted(c for c in flagged if c in PLANTED),
            "missed_planted": sorted(c for c in PLANTED if c not in flagged),
            "flagged_unplanted": sorted(c for c in flagged if c not in PLANTED)}


def _rounded(side: dict[str, Any] | None, *keys: str) -> dict[str, Any] | None:
    if side is None:
        return None
    return {k: round(side[k], 3) if isinstance(side.get(k), float) else side.get(k) for k in keys}


def part_drift(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Part 1: the drift report against Evidently's DataDriftPreset."""
    say(f"writing {args.reference_rows:,} reference and {args.current_rows:,} current rows x "
        f"{NUMERIC + CATEGORICAL} columns")
    write_data(work, args.reference_rows, args.current_rows, args.seed)
    evidently_version = None
    if not args.no_evidently:
        evidently_version = ensure_evidently(args.evidently_venv, args.evidently_spec)
        if not evidently_version.startswith(EVIDENTLY_WANTED):
            say(f"note: Evidently {evidently_version} is installed, not {EVIDENTLY_WANTED}")
    say("mlplat: drift_report in its own process")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    ours = run_measured([sys.executable, str(Path(__file__).resolve()), "--child", "mlplat", "--workdir", str(work)],
                        env)
    say(f"mlplat: {ours['seconds']:.2f} s, peak {ours['peak_rss_mb']:.0f} MB, flagged {ours['flagged']}")
    theirs = None
    if not args.no_evidently:
        say("evidently: DataDriftPreset in its own process (about a minute)")
        theirs = run_measured([str(args.evidently_venv / "bin" / "python"), str(EVIDENTLY_SIDE),
                               "--workdir", str(work)])
        say(f"evidently: {theirs['seconds']:.2f} s, peak {theirs['peak_rss_mb']:.0f} MB, flagged {theirs['flagged']}")
    keys = ("seconds", "load_s", "peak_rss_mb", "cpu_seconds", "import_s", "process_s")
    result: dict[str, Any] = {
        "rows": {"reference": args.reference_rows, "current": args.current_rows},
        "columns": {"numeric": NUMERIC, "categorical": CATEGORICAL},
        "planted": sorted(PLANTED),
        "mlplat": {**_rounded(ours, *keys), **score(ours["flagged"])},  # type: ignore[dict-item]
        "evidently": None if theirs is None else {**_rounded(theirs, *keys), **score(theirs["flagged"]),
                                                  "version": evidently_version},
        "ratio": None if theirs is None else {
            "seconds": round(theirs["seconds"] / ours["seconds"], 1),
            "cpu_seconds": round(theirs["cpu_seconds"] / ours["cpu_seconds"], 1),
            "peak_rss": round(theirs["peak_rss_mb"] / ours["peak_rss_mb"], 2)},
        "detail": {"mlplat_reasons": ours["reasons"],
                   "mlplat_profile": {k: round(v, 3) if isinstance(v, float) else v
                                      for k, v in ours["profile"].items()},
                   "evidently_methods": None if theirs is None else theirs.get("methods"),
                   "load_avg_1m": round(os.getloadavg()[0], 2)},
    }
    return result


def part_hourly_pass(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Part 2: the service's hourly pass over ``--log-rows`` logged predictions (monitoring_pass.py)."""
    from monitoring_pass import part_hourly_pass as run

    return run(args, work)


#: The benchmark's parts, run in this order.
PARTS: dict[str, Callable[[argparse.Namespace, Path], dict[str, Any]]] = {"drift": part_drift,
                                                                          "hourly_pass": part_hourly_pass}


def main(argv: list[str] | None = None) -> None:
    args = _arguments(argv)
    if args.child == "mlplat":
        print(json.dumps(mlplat_child(args.workdir)), flush=True)
        return
    work = args.workdir or Path(tempfile.mkdtemp(prefix="mlplat-bench-mon-"))
    work.mkdir(parents=True, exist_ok=True)
    result: dict[str, Any] = {"benchmark": "monitoring"}
    try:
        for name, part in PARTS.items():
            if args.only is None or name in args.only:
                result[name] = part(args, work / name)
    finally:
        if not args.keep and not args.workdir:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
