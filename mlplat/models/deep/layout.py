"""How a network reads the pipeline's model matrix: which columns are numbers, categories, and event steps.

The pipeline hands every estimator a float matrix whose columns are named by
the transformer: a one-hot block ``country=US``, ``country=IN``, ... per text
column, and scaled numbers. A network wants an embedding per categorical
column instead of a wide one-hot row. A one-hot block times a weight matrix is
exactly an embedding lookup, so the networks keep the pipeline's matrix (and
its compiled serving path) and learn one bias-free linear map per block.

Event columns attached by the example set (``ev1_event_type=search``,
``ev1_price``, ... ``evN_...``; 1 is the newest) are regrouped into a
``(rows, N, step width)`` array for the sequence model, each step's field
mapped into one vocabulary shared by all positions (positions can have seen
different categories at fit time). This module is numpy only: no torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from mlplat.errors import ValidationError

EVENT_PREFIX = "ev"
_EVENT = re.compile(rf"^{EVENT_PREFIX}(\d+)_([^=]+)(?:=(.*))?$")


@dataclass(frozen=True)
class TabularLayout:
    """Column positions of the numeric inputs and of each one-hot block (one block per source column)."""

    numeric: tuple[int, ...]
    blocks: tuple[tuple[str, tuple[int, ...]], ...]

    @classmethod
    def from_columns(cls, columns: Sequence[str], skip: Sequence[int] = ()) -> "TabularLayout":
        numeric: list[int] = []
        blocks: dict[str, list[int]] = {}
        skipped = set(skip)
        for i, name in enumerate(columns):
            if i in skipped:
                continue
            if "=" in name:
                blocks.setdefault(name.split("=", 1)[0], []).append(i)
            else:
                numeric.append(i)
        return cls(tuple(numeric), tuple((k, tuple(v)) for k, v in blocks.items()))


@dataclass(frozen=True)
class SequenceLayout:
    """Where each event column goes in the ``(rows, steps, width)`` array, oldest step first.

    The last slot of a step says whether an event is there: a user with fewer
    than N earlier events has empty (all-zero) oldest steps.
    """

    steps: int
    width: int
    columns: tuple[int, ...]  # matrix column of each placed value
    step_index: tuple[int, ...]
    slot_index: tuple[int, ...]
    presence: tuple[int, ...]  # slots whose sum says an event is present (the first categorical field)
    numeric_slots: tuple[int, ...]
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)  # field -> vocabulary ('' for a number)

    @classmethod
    def from_columns(cls, columns: Sequence[str]) -> "SequenceLayout | None":
        """The layout of the ``ev<i>_`` columns, or None when the matrix has none."""
        parsed = [(i, _EVENT.match(name)) for i, name in enumerate(columns)]
        events = [(i, int(m.group(1)), m.group(2), m.group(3)) for i, m in parsed if m]
        if not events:
            return None
        steps = max(pos for _, pos, _, _ in events)
        vocab: dict[str, list[str]] = {}
        for _, _, name, value in events:
            values = vocab.setdefault(name, [])
            if value is not None and value not in values:
                values.append(value)
        slots: dict[tuple[str, str], int] = {}
        numeric: list[int] = []
        for name in sorted(vocab):
            if vocab[name]:
                for value in sorted(vocab[name]):
                    slots[(name, value)] = len(slots)
            else:
                numeric.append(len(slots))
                slots[(name, "")] = len(slots)
        categorical = [n for n in sorted(vocab) if vocab[n]]
        presence = tuple(slots[(categorical[0], v)] for v in sorted(vocab[categorical[0]])) if categorical else ()
        return cls(
            steps=steps,
            width=len(slots) + 1,
            columns=tuple(i for i, _, _, _ in events),
            step_index=tuple(steps - pos for _, pos, _, _ in events),  # newest (ev1) last
            slot_index=tuple(slots[(name, value or "")] for _, _, name, value in events),
            presence=presence,
            numeric_slots=tuple(numeric),
            fields={name: tuple(sorted(values)) for name, values in vocab.items()},
        )


def check_width(x: np.ndarray, columns: Sequence[str]) -> None:
    """A matrix whose width is not the fitted column count is a caller's mistake, said plainly."""
    if x.ndim != 2:
        raise ValidationError(f"expected a 2-d matrix of model columns, got shape {x.shape}")
    if columns and x.shape[1] != len(columns):
        raise ValidationError(f"expected {len(columns)} model columns, got {x.shape[1]}")


__all__ = ["EVENT_PREFIX", "SequenceLayout", "TabularLayout", "check_width"]
