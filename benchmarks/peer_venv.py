"""A peer tool's own virtual environment for a side-by-side benchmark: probed, and created on first use.

A peer never shares the project's venv (its pins would fight ours, and a benchmark must not
change what it measures). Each benchmark keeps one venv per peer under
``~/.cache/mlplat-bench/`` and reuses it as long as its probe (an import and a version) works.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def pip(venv: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """``pip ARGS`` with the venv's python; its output goes to stderr, the caller's stdout stays clean."""
    return subprocess.run([str(venv / "bin" / "python"), "-m", "pip", *args], text=True,
                          stdout=subprocess.PIPE, stderr=sys.stderr, check=check)


def probe(venv: Path, code: str) -> str | None:
    """What ``code`` prints with the venv's python (stripped), or None when the venv is missing or it fails."""
    python = venv / "bin" / "python"
    if not python.exists():
        return None
    found = subprocess.run([str(python), "-c", code], text=True, capture_output=True)
    return found.stdout.strip() if found.returncode == 0 else None


def create(venv: Path) -> None:
    """A fresh, empty venv at ``venv`` (an old one there is cleared), on this interpreter's Python."""
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
