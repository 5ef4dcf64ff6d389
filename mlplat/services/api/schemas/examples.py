"""Answers of the Example Store and Transformer routes (``/v1/examples``, ``/v1/transformers``).

An example set's answer is its dataclass's fields. A transformer's is not a
dataclass: its ``to_dict`` (spec and fitted state) is written out here, and
the list answers one summary per name, built by ``list_transformers``.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlplat.features.examples import ExampleSetInfo
from mlplat.services.api.schemas.base import Closed, mirror


@mirror(
    ExampleSetInfo,
    url="where its Parquet files are",
    team="the owner team: only it (or an admin) adds a version",
    rows="rows in the set",
    created_at="ISO-8601",
    manifest="what is in it: labels and feature sets with their versions and columns, schema, rows, stats",
)
class ExampleSet(Closed):
    """One version of an example set: label rows joined point in time with feature values."""


class TransformerSteps(Closed):
    steps: list[dict[str, Any]] = Field(
        description="the steps with their defaults filled in, e.g. {op: scale, columns: [age], method: standard}; "
        "a function step keeps its name (the function lives in the state)"
    )


class Transformer(Closed):
    """A fitted transformer: its steps and what fitting learned. The same document loads it anywhere."""

    id: str = Field(description="'<name>:v<version>'")
    spec: TransformerSteps
    state: dict[str, Any] = Field(description="what fitting learned per step, input_columns and output_columns")
    team: str
    example_set: str = Field(description="the example set it was fitted on ('<name>:v<version>')")
    created_by: str
    created_at: str = Field(description="ISO-8601")


class TransformerSummary(Closed):
    """A transformer's newest version, with every version number."""

    id: str = Field(description="'<name>:v<version>' of the newest version")
    name: str
    version: int
    versions: list[int]
    team: str
    example_set: str
    created_by: str
    created_at: str = Field(description="ISO-8601")
    steps: list[str] = Field(description="each step's op, in order")
    input_columns: list[str]
    output_columns: list[str]
