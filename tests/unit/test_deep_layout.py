"""How the networks read the model matrix's column names (numpy only: no torch needed)."""

from __future__ import annotations

import numpy as np
import pytest

from mlplat.errors import ValidationError
from mlplat.models.deep.layout import SequenceLayout, TabularLayout, check_width

COLUMNS = ["x0", "country=DE", "country=US", "ev1_event_type=search", "ev1_event_type=view", "ev1_price",
           "ev2_event_type=view", "ev2_price", "device=ios"]


def test_one_hot_blocks_become_embedding_groups() -> None:
    layout = TabularLayout.from_columns(COLUMNS, skip=(3, 4, 5, 6, 7))
    assert layout.numeric == (0,)
    assert layout.blocks == (("country", (1, 2)), ("device", (8,)))


def test_event_columns_map_into_one_vocabulary_per_field() -> None:
    layout = SequenceLayout.from_columns(COLUMNS)
    assert layout is not None
    assert layout.steps == 2
    assert layout.fields == {"event_type": ("search", "view"), "price": ()}
    # slots: event_type=search 0, event_type=view 1, price 2; then the presence flag
    assert layout.width == 4 and layout.numeric_slots == (2,) and layout.presence == (0, 1)
    assert layout.columns == (3, 4, 5, 6, 7)
    assert layout.step_index == (1, 1, 1, 0, 0)  # ev1 (newest) is the last step
    # ev2 saw only "view": its one column lands in the shared slot of "view"
    assert layout.slot_index == (0, 1, 2, 1, 2)
    assert SequenceLayout.from_columns(["x0", "country=US"]) is None


def test_a_matrix_of_the_wrong_width_is_refused() -> None:
    check_width(np.zeros((2, 3)), ["a", "b", "c"])
    with pytest.raises(ValidationError, match="expected 3 model columns, got 2"):
        check_width(np.zeros((2, 2)), ["a", "b", "c"])
    with pytest.raises(ValidationError, match="2-d"):
        check_width(np.zeros(3), [])
