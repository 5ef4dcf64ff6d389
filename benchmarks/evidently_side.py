"""The Evidently half of ``benchmarks/monitoring.py``; runs with Evidently's venv python, never ours.

    evidently_side.py --workdir DIR

Reads ``DIR/reference.parquet``, ``DIR/current.parquet`` and the column kinds
in ``DIR/columns.json`` into pandas, then times
``Report([DataDriftPreset()], include_tests=True).run(current, reference)`` on
Datasets with that data definition (Evidently picks each column's method
itself: for these sizes normalised Wasserstein for numeric columns and
Jensen-Shannon for categorical ones, threshold 0.1; the tests only read each
column's verdict out, ``FAIL`` = drift detected). Prints ONE JSON line on
stdout: seconds, CPU seconds, load and import seconds, the flagged columns,
each column's method, and the process's own peak RSS (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import sys
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workdir", type=Path, required=True)
    args = parser.parse_args()
    real = os.fdopen(os.dup(1), "w")  # whatever Evidently prints goes to stderr; stdout keeps the one line
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    began = time.perf_counter()
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    imported = time.perf_counter() - began
    kinds = json.loads((args.workdir / "columns.json").read_text())
    t0 = time.perf_counter()
    reference = pd.read_parquet(args.workdir / "reference.parquet")
    current = pd.read_parquet(args.workdir / "current.parquet")
    load = time.perf_counter() - t0

    t0, cpu0 = time.perf_counter(), time.process_time()
    definition = DataDefinition(numerical_columns=kinds["numeric"], categorical_columns=kinds["categorical"])
    snapshot = Report([DataDriftPreset()], include_tests=True).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition))
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0

    flagged, methods = [], {}
    for test in snapshot.dict()["tests"]:
        match = re.fullmatch(r"Value Drift for column (.+)", test["name"])
        if match:
            methods[match.group(1)] = test["metric_config"]["params"].get("method")
            if test["status"] == "FAIL":
                flagged.append(match.group(1))
    method_counts: dict[str, int] = {}
    for method in methods.values():
        method_counts[str(method)] = method_counts.get(str(method), 0) + 1
    from importlib.metadata import version

    real.write(json.dumps({
        "version": version("evidently"), "import_s": imported, "load_s": load, "seconds": seconds,
        "cpu_seconds": cpu, "flagged": flagged, "columns_tested": len(methods), "methods": method_counts,
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }) + "\n")
    real.flush()


if __name__ == "__main__":
    main()
