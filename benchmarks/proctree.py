"""Resources of a process and its descendants (servers with worker processes, Spark's JVM)."""

from __future__ import annotations

from typing import Any


def tree_cpu_seconds(root: Any = None) -> float:
    """User + system CPU so far of ``root`` (a pid or a psutil.Process; this process by default) and its
    descendants: steadier than wall time on a shared machine."""
    import psutil

    if not isinstance(root, psutil.Process):
        root = psutil.Process(root)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.Error:
            pass
    return total


def tree_rss_bytes(root: Any = None) -> int:
    """Resident memory now of ``root`` (a pid or a psutil.Process; this process by default) and its
    descendants; a peak is the maximum of frequent samples."""
    import psutil

    try:
        if not isinstance(root, psutil.Process):
            root = psutil.Process(root)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:  # it has just exited
        return 0
    total = 0
    for proc in procs:
        try:
            total += proc.memory_info().rss
        except psutil.Error:
            pass
    return total
