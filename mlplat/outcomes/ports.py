"""What the traffic simulator needs from elsewhere, as small protocols this domain owns.

Assignment belongs to Experiments and answering to the Inference Service; the
simulator takes them as these callables (wired by the CLI), so this domain
never imports either.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Protocol, Sequence

import numpy as np


class Assigner(Protocol):
    """The arm of each unit id, None outside the experiment (``mlplat.experiments.assign_many`` behind it)."""

    def __call__(self, entity_ids: np.ndarray) -> Sequence[str | None]: ...


class Poster(Protocol):
    """An HTTP client's ``post`` (``httpx.Client.post``): the simulator sends real requests through it."""

    def post(self, url: str, *, json: Any = None, headers: Mapping[str, str] | None = None) -> Any: ...


# Registers a written folder as a lake table: (name, url, partition_by) -> anything.
RegisterTable = Callable[[str, str, list[str]], Any]

__all__ = ["Assigner", "Poster", "RegisterTable"]
