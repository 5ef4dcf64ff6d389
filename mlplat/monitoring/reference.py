"""A model version's drift reference, profiled once: its training examples (default) or a window of its log.

The training example set holds the model's inputs under the same names the
log's ``inputs`` use, and the target: for a classifier the target is the
reference of ``output.label`` (the predicted classes against the trained-on
ones), for a regressor of ``output.value``. A window of the log
(``{"kind": "window", "start": ..., "end": ...}``, ISO hours) is a reference of
everything the log holds, inputs and outputs alike.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from mlplat.errors import NotFoundError, ValidationError
from mlplat.monitoring.lineage import read_examples
from mlplat.monitoring.logread import BASE_COLUMNS, OPTIONAL, log_hours, read_hour
from mlplat.monitoring.ports import ModelFacts
from mlplat.monitoring.profile import ReferenceProfile, build_profile


def as_text(column: Any) -> Any:
    """Classes as text, alike on both sides: ``True``/``1``/``1.0`` all read ``"1"``."""
    if pa.types.is_boolean(column.type):
        column = column.cast(pa.int64())
    if pa.types.is_floating(column.type):
        values = column.to_numpy(zero_copy_only=False)
        import numpy as np

        finite = values[np.isfinite(values)]
        if finite.size and np.all(finite == np.round(finite)):
            column = pc.cast(pc.round(column), pa.int64(), safe=False)
    return column.cast(pa.string())


def check_reference(reference: Any) -> dict[str, Any]:
    """A reference choice from a caller: ``{"kind": "training"}`` or ``{"kind": "window", "start", "end"}``."""
    if not reference:
        return {"kind": "training"}
    if not isinstance(reference, dict) or reference.get("kind") not in ("training", "window"):
        raise ValidationError("reference must be {\"kind\": \"training\"} or {\"kind\": \"window\", \"start\": "
                              "\"2026-11-20T00\", \"end\": \"2026-11-21T00\"}", field="reference")
    if reference["kind"] == "training":
        return {"kind": "training"}
    try:
        start, end = (datetime.fromisoformat(str(reference[k])) for k in ("start", "end"))
    except (KeyError, ValueError):
        raise ValidationError("a window reference needs start and end as ISO times (2026-11-20T00:00)",
                              field="reference") from None
    if end <= start:
        raise ValidationError("the reference window must end after it starts", field="reference")
    return {"kind": "window", "start": start.isoformat(), "end": end.isoformat()}


def _training(facts: ModelFacts) -> tuple[str, ReferenceProfile]:
    if not facts.example_location:
        raise NotFoundError(f"model {facts.model} v{facts.version} names no training example set: choose a window "
                            "of the log as its reference", model=facts.model)
    names = [f.name for f in facts.fields]
    table = read_examples(facts.example_location, [*names, *([facts.target] if facts.target else [])])
    columns = {n: table.column(n) for n in names if n in table.column_names}
    if facts.target and facts.target in table.column_names:
        target = table.column(facts.target)
        task = str(facts.extra.get("task") or "")
        if task == "regression" or (not task and pa.types.is_floating(target.type)
                                    and pc.count_distinct(target).as_py() > 20):
            columns["output.value"] = target
        else:
            columns["output.label"] = as_text(target)
    source = f"training example set {facts.example_set or facts.example_location}"
    return source, build_profile(pa.table(columns))


def _window(facts: ModelFacts, reference: dict[str, Any], log_url: str) -> tuple[str, ReferenceProfile]:
    from datetime import timezone

    start, end = (datetime.fromisoformat(reference[k]) for k in ("start", "end"))
    start, end = (t if t.tzinfo else t.replace(tzinfo=timezone.utc) for t in (start, end))
    tables = []
    for hour, files in log_hours(log_url, facts.model).items():
        if start <= hour < end:
            data = read_hour(log_url, facts.model, hour, files)
            t = data.table.filter(pc.equal(data.table.column("version"), facts.version)) if data.rows else data.table
            tables.append(t.drop_columns([c for c in (*BASE_COLUMNS, *OPTIONAL) if c in t.column_names]))
    tables = [t for t in tables if t.num_rows]
    if not tables:
        raise NotFoundError(f"model {facts.model} v{facts.version} has no logged predictions between {start} and "
                            f"{end}: the reference window is empty", model=facts.model)
    table = pa.concat_tables(tables, promote_options="permissive")
    if "output.label" in table.column_names:
        table = table.set_column(table.schema.get_field_index("output.label"), "output.label",
                                 as_text(table.column("output.label")))
    return f"log window {start.isoformat()} .. {end.isoformat()}", build_profile(table)


def build_reference(facts: ModelFacts, reference: dict[str, Any] | None, log_url: str) -> tuple[str, ReferenceProfile]:
    """(where it came from, the profile) of a model version's reference."""
    chosen = check_reference(reference)
    if chosen["kind"] == "window":
        return _window(facts, chosen, log_url)
    return _training(facts)


__all__ = ["as_text", "build_reference", "check_reference"]
