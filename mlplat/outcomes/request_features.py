"""The session features a simulated request sends: what the experiment's arms' models need, drawn plausibly.

A request through the Inference Service must carry every session feature the
answering model declares (a missing required one is a 422), and the simulator
does not know in advance which arm a user lands in, so it sends the union of
every arm's session features (``ArmInputs``: names, types and defaults, from
each arm's version in the Model Repository; the CLI gathers them).

Values come from the models' own training example sets (the Example Store
location in each version's metadata, as Monitoring's training reference reads
it), not from the seeded lake's session tables: an example set holds exactly
the model's inputs, under the names and types the model was trained on, with
their joint distribution (a derived input such as ``session_mean_price`` is a
column there, while the lake has only the raw events it was computed from),
and it exists for any model trained through the platform, seeded lake or not.
Each simulated user gets one row, drawn with the simulation's seed, so a user
sends the same session features on every request. Where a value is missing
(no example set, the set is gone, the column or the row's value is absent) the
field's declared default is sent, else another row's value of the column, else
a neutral value of its type (0, false, ``"unknown"``), and ``sources`` says
which was used for every field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np

from mlplat.errors import ValidationError
from mlplat.lake.paths import local_path, to_url

FIELD_TYPES = ("float", "int", "bool", "str")
NEUTRAL: dict[str, Any] = {"float": 0.0, "int": 0, "bool": False, "str": "unknown"}
MAX_ROWS = 50_000  # rows read from an example set: plenty to sample users from, bounded for huge sets


@dataclass(frozen=True)
class SessionInput:
    """One session feature a model declares: ``type`` is one of float, int, bool, str."""

    name: str
    type: str
    default: Any = None

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValidationError(f"session feature {self.name!r}: type {self.type!r} is not one of "
                                  f"{', '.join(FIELD_TYPES)}", field=self.name)

    def coerce(self, value: Any) -> Any:
        """A value as JSON sends it for this type (numpy scalars and ints-as-floats made plain)."""
        if self.type == "str":
            return str(value)
        if self.type == "bool":
            return bool(value)
        return int(value) if self.type == "int" else float(value)


@dataclass(frozen=True)
class ArmInputs:
    """What one arm's model needs from a request's session, and where its training examples are."""

    model: str  # the arm's reference, for messages
    fields: tuple[SessionInput, ...]
    examples: str | None = None  # the training example set's folder; None when the version names none


@dataclass
class RequestFeatures:
    """Each simulated user's session features (``__call__(user index)``), and where each field's values came from."""

    rows: list[dict[str, Any]]
    sources: dict[str, str] = field(default_factory=dict)

    def __call__(self, user: int) -> dict[str, Any]:
        return self.rows[user]


ExampleReader = Callable[[str, Sequence[str]], dict[str, list[Any]]]


def read_examples(location: str, columns: Sequence[str]) -> dict[str, list[Any]]:
    """Up to ``MAX_ROWS`` rows of the wanted columns (those the set has) of a Parquet example set."""
    import pyarrow as pa
    import pyarrow.dataset as ds

    path = local_path(to_url(location))
    if path is not None and not path.exists():  # the set is gone: its fields fall back
        return {}
    dataset = ds.dataset(str(path) if path is not None else location.replace("s3a://", "s3://"),
                         format="parquet", partitioning="hive")
    names = [c for c in columns if c in dataset.schema.names]
    if not names:
        return {}
    batches, rows = [], 0
    for batch in dataset.to_batches(columns=names):
        batches.append(batch)
        rows += batch.num_rows
        if rows >= MAX_ROWS:
            break
    table = pa.Table.from_batches(batches, schema=pa.schema([dataset.schema.field(n) for n in names]))
    table = table.slice(0, MAX_ROWS)
    return {n: table.column(n).to_pylist() for n in names}


def union_fields(arms: Sequence[ArmInputs]) -> list[SessionInput]:
    """Every arm's session features once; two arms declaring one name with different types is an error."""
    found: dict[str, SessionInput] = {}
    for arm in arms:
        for f in arm.fields:
            known = found.get(f.name)
            if known is not None and known.type != f.type:
                raise ValidationError(f"session feature {f.name!r} is {known.type} for one arm and {f.type} for "
                                      f"{arm.model}: one request cannot serve both", field=f.name)
            found.setdefault(f.name, f)
    return list(found.values())


def draw(arms: Sequence[ArmInputs], users: int, seed: int = 0,
         reader: ExampleReader = read_examples) -> RequestFeatures:
    """One row of session features per user (seeded), from the arms' training example sets."""
    fields = union_fields(arms)
    if not fields:
        return RequestFeatures([{} for _ in range(users)])
    rng = np.random.default_rng([seed, 0x5E55])
    drawn: dict[str, tuple[list[Any], list[Any]]] = {}  # field -> (each user's drawn value, the column's values)
    for arm in arms:  # the first arm whose example set holds a column gives it; one row per user per set
        wanted = [f.name for f in arm.fields if f.name not in drawn]
        table = reader(arm.examples, wanted) if arm.examples and wanted else {}
        length = min((len(v) for v in table.values()), default=0)
        if not length:
            continue
        picked = rng.integers(0, length, size=users).tolist()
        for name, values in table.items():
            drawn[name] = ([values[i] for i in picked], values)
    columns: dict[str, list[Any]] = {}
    sources: dict[str, str] = {}
    for f in fields:
        columns[f.name], sources[f.name] = _column(f, *drawn.get(f.name, ([], [])), users, rng)
    rows = [{f.name: columns[f.name][u] for f in fields} for u in range(users)]
    return RequestFeatures(rows, sources)


def _missing(value: Any) -> bool:
    return value is None or value != value  # value != value: NaN


def _column(f: SessionInput, picked: list[Any], values: list[Any], users: int,
            rng: np.random.Generator) -> tuple[list[Any], str]:
    """``users`` values of one field and where they came from."""
    present = [v for v in values if not _missing(v)]
    if not present:
        value = f.default if f.default is not None else NEUTRAL[f.type]
        return [f.coerce(value)] * users, "default" if f.default is not None else "neutral"
    out = []
    for value in picked:
        if _missing(value):  # a missing value in the drawn row: the default, else another row's
            value = f.default if f.default is not None else present[int(rng.integers(0, len(present)))]
        out.append(f.coerce(value))
    return out, "examples"


__all__ = ["ArmInputs", "ExampleReader", "RequestFeatures", "SessionInput", "draw", "read_examples",
           "union_fields"]
