"""Simulated traffic, for real: requests sent through the Inference Service (or logged directly), responses
written to the lake as tables a metric can read.

Two ways to get each session's prediction:

- ``send``: ``POST /v1/experiments/{name}/predict`` on the Inference Service
  for every session, in time order, a few at a time. The service assigns the
  arm, answers and logs the prediction itself; a session's time becomes the
  moment its answer came back (the service logs the time the request came in,
  just before), and its user's purchases follow within ``response_seconds``.
  Each request carries the session features the arms' models declare, drawn
  from their training example sets (``request_features``).
- ``assign_locally`` (``--no-serve``): the experiment's assignment function
  gives the arm, and ``log_rows``/``write_log`` write the prediction log's rows
  (schema version 2) at the planned times, as the service would have. For
  tests and the 10-million-row benchmark.

Either way the users' responses go to two lake tables (``write_responses``):
``sim_sessions`` (one row per session, with its ``prediction_id``) and
``sim_purchases`` (one per purchase, with ``revenue``, the ``prediction_id``
of the session it followed, null for pre-period purchases), both with
``user_id`` (the entity) and partitioned by ``experiment``. A run writes one
file per table named by its seed and start, so running it again replaces its
own rows and leaves other runs' alone.
"""

from __future__ import annotations

import json as jsonlib
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlplat.errors import MlplatError, NotFoundError, ValidationError
from mlplat.lake.paths import join, local_path
from mlplat.outcomes.ports import Assigner, Poster, RegisterTable
from mlplat.outcomes.simulate import TS, Plan, Responses, SimConfig

SIM_TABLES = {"sim_sessions": "simulated/sessions", "sim_purchases": "simulated/purchases"}
LOG_SCHEMA = pa.schema([
    ("prediction_id", pa.string()), ("ts", TS), ("model", pa.string()), ("version", pa.int32()),
    ("arm", pa.string()), ("entity_key", pa.string()), ("entity_id", pa.string()), ("inputs", pa.string()),
    ("output", pa.string()), ("latency_ms", pa.float64()), ("schema_version", pa.int16()),
    ("experiment", pa.string()), ("phase", pa.int32()),
])
HOUR_US = 3_600_000_000


@dataclass
class Answers:
    """Each planned session's prediction (indexed like the plan's sessions)."""

    prediction_id: list[str]
    arm: list[str | None]
    model: list[str]
    version: list[int]
    ts_us: np.ndarray


# -- without the service ----------------------------------------------------------------------
def assign_locally(cfg: SimConfig, plan_: Plan, assigner: Assigner, arm_models: Mapping[str, tuple[str, int]],
                   control: str) -> Answers:
    """What the service would answer, from the assignment function: outside the experiment, ``control``'s model."""
    unit_arms = list(assigner(plan_.user_ids))
    if len(unit_arms) != plan_.user_ids.size:
        raise ValidationError("the assigner must give one arm per user", field="assigner")
    unknown = sorted({a for a in unit_arms if a is not None and a not in arm_models})
    if unknown or control not in arm_models:
        raise ValidationError(f"arm {(unknown or [control])[0]!r} has no model", field="arms")
    arm = [unit_arms[u] for u in plan_.session_user.tolist()]
    served = [arm_models[a if a is not None else control] for a in arm]
    ids = pc.binary_join_element_wise(pa.scalar(f"{cfg.experiment}-{cfg.seed}-{int(cfg.start.timestamp())}-"),
                                      pa.array(np.arange(plan_.sessions)).cast(pa.string()), "")
    return Answers(ids.to_pylist(), arm, [m for m, _ in served], [v for _, v in served], plan_.session_us.copy())


def log_rows(cfg: SimConfig, answers: Answers, plan_: Plan, phase: int | None) -> pa.Table:
    """The prediction log's rows (schema version 2) for answers made without the service."""
    n = len(answers.prediction_id)
    arms = pa.array(answers.arm, pa.string())
    return pa.table({
        "prediction_id": pa.array(answers.prediction_id, pa.string()),
        "ts": pa.array(answers.ts_us, pa.int64()).cast(TS),
        "model": pa.array(answers.model, pa.string()),
        "version": pa.array(answers.version, pa.int32()),
        "arm": arms,
        "entity_key": pa.array(["user_id"] * n, pa.string()),
        "entity_id": pa.array(plan_.user_ids, pa.string()).take(pa.array(plan_.session_user)),
        "inputs": pa.array(["{}"] * n, pa.string()),
        "output": pa.array(['{"simulated":true}'] * n, pa.string()),
        "latency_ms": pa.array(np.zeros(n), pa.float64()),
        "schema_version": pa.array(np.full(n, 2, dtype=np.int16), pa.int16()),
        "experiment": pa.array([None if a is None else cfg.experiment for a in answers.arm], pa.string()),
        "phase": pa.array([phase] * n, pa.int32()),
    }, schema=LOG_SCHEMA)


def write_log(log_url: str, rows: pa.Table, tag: str) -> int:
    """Write the rows as the prediction log lays them out (``model=<m>/hour=<YYYY-MM-DDTHH>/``); files written."""
    import pyarrow.parquet as pq

    hours = pc.cast(pc.divide(pc.cast(rows["ts"], pa.int64()), HOUR_US), pa.int64())
    rows = rows.append_column("_hour", hours).sort_by([("model", "ascending"), ("_hour", "ascending")])
    keys = pa.table({"model": rows["model"], "_hour": rows["_hour"]}).group_by(["model", "_hour"],
                                                                               use_threads=False).aggregate([])
    written = 0
    for model, hour in zip(keys["model"].to_pylist(), keys["_hour"].to_pylist()):
        part = rows.filter(pc.and_(pc.equal(rows["model"], model), pc.equal(rows["_hour"], hour))).drop(["_hour"])
        stamp = time.strftime("%Y-%m-%dT%H", time.gmtime(hour * 3600))
        _write(pq, part, join(log_url, f"model={model}", f"hour={stamp}"), f"part-sim-{tag}.parquet")
        written += 1
    return written


# -- through the service -------------------------------------------------------------------------
def send(http: Poster, base_url: str, cfg: SimConfig, plan_: Plan, *, token: str | None = None,
         entity_key: str = "user_id", features: Callable[[int], dict[str, Any]] | None = None,
         concurrency: int = 4, progress: Callable[[str, float], None] | None = None) -> Answers:
    """One request per session through ``POST /v1/experiments/{name}/predict``, in time order;
    ``features(user index)``: the session features to send."""
    url = f"{base_url.rstrip('/')}/v1/experiments/{cfg.experiment}/predict"
    headers = {"Authorization": f"token {token}"} if token else {}
    n = plan_.sessions
    out = Answers([""] * n, [None] * n, [""] * n, [0] * n, np.zeros(n, dtype=np.int64))

    def one(i: int) -> None:
        index = int(plan_.session_user[i])
        user = str(plan_.user_ids[index])
        body = {"entity": {entity_key: user}, "entity_id": user, "features": features(index) if features else {}}
        reply = http.post(url, json=body, headers=headers)
        if reply.status_code != 200:
            text = reply.text[:300]
            if reply.status_code == 404:
                raise NotFoundError(f"the Inference Service does not know experiment {cfg.experiment!r}: {text}")
            raise MlplatError(f"the Inference Service answered {reply.status_code} for {user}: {text}")
        answer = jsonlib.loads(reply.content)
        out.prediction_id[i], out.arm[i] = str(answer["prediction_id"]), answer.get("arm")
        out.model[i], out.version[i] = str(answer.get("model", "")), int(answer.get("version") or 0)
        out.ts_us[i] = int(time.time() * 1_000_000)

    order = plan_.order().tolist()
    done = 0
    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        for start in range(0, n, 200):
            list(pool.map(one, order[start:start + 200]))  # raises the first failure
            done = min(n, start + 200)
            if progress is not None:
                progress(f"{done:,} of {n:,} requests answered", done / n)
    return out


# -- the responses -------------------------------------------------------------------------------
def write_responses(lake_url: str, cfg: SimConfig, responses: Responses,
                    register: RegisterTable | None = None) -> dict[str, str]:
    """Write the sessions and purchases under ``<lake>/simulated/`` and register them; table -> URL."""
    import pyarrow.parquet as pq

    tag = f"{cfg.seed}-{cfg.start.strftime('%Y%m%dT%H%M%S')}"
    urls = {}
    for name, table in (("sim_sessions", responses.sessions), ("sim_purchases", responses.purchases)):
        url = join(lake_url, SIM_TABLES[name])
        _write(pq, table.drop(["experiment"]), join(url, f"experiment={cfg.experiment}"), f"part-{tag}.parquet")
        if register is not None:
            register(name, url, ["experiment"])
        urls[name] = url
    return urls


def _write(pq: Any, table: pa.Table, folder: str, name: str) -> None:
    path = local_path(folder)
    if path is not None:
        import os

        path.mkdir(parents=True, exist_ok=True)
        tmp = path / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
        pq.write_table(table, str(tmp))
        os.replace(tmp, path / name)  # readers see the old file or the new one
        return
    import pyarrow.fs as pafs

    fs, inner = pafs.FileSystem.from_uri(folder.replace("s3a://", "s3://"))
    fs.create_dir(inner, recursive=True)
    pq.write_table(table, f"{inner}/{name}", filesystem=fs)


@dataclass(frozen=True)
class SimResult:
    """What a simulation did, with the truth it planted (per arm: expected conversion, revenue per user)."""

    experiment: str
    users: int
    sessions: int
    purchases: int
    units: dict[str, int]
    truth: dict[str, dict[str, float]]
    tables: dict[str, str]
    start: str
    responses_until: str
    seconds: float
    log_files: int = 0
    session_features: dict[str, str] = field(default_factory=dict)  # sent feature -> where its values came from

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def finish(cfg: SimConfig, plan_: Plan, answers: Answers, lake_url: str, register: RegisterTable | None,
           began: float, log_files: int = 0) -> SimResult:
    """Draw the users' responses to the answers, write them, and say what was planted."""
    from datetime import datetime, timezone

    from mlplat.outcomes.simulate import respond

    responses = respond(cfg, plan_, answers.arm, answers.prediction_id, answers.ts_us)
    tables = write_responses(lake_url, cfg, responses, register)
    units = arm_counts(responses.unit_arm)
    last = int(pc.max(pc.cast(responses.purchases["ts"], pa.int64())).as_py() or 0)
    return SimResult(
        experiment=cfg.experiment, users=cfg.users, sessions=plan_.sessions, purchases=responses.purchases.num_rows,
        units=units, truth={arm: cfg.truth(None if arm == "(outside)" else arm) for arm in units}, tables=tables,
        start=cfg.start.isoformat(), responses_until=datetime.fromtimestamp(last / 1e6, timezone.utc).isoformat(),
        seconds=round(time.monotonic() - began, 3), log_files=log_files)


def run_local(cfg: SimConfig, lake_url: str, log_url: str, assigner: Assigner,
              arm_models: Mapping[str, tuple[str, int]], control: str, *, phase: int | None = None,
              register: RegisterTable | None = None, user_ids: Sequence[str] | None = None) -> SimResult:
    """``--no-serve``: assign with the experiment's function, write the log rows and the responses."""
    from mlplat.outcomes.simulate import plan

    began = time.monotonic()
    plan_ = plan(cfg, user_ids)
    answers = assign_locally(cfg, plan_, assigner, arm_models, control)
    files = write_log(log_url, log_rows(cfg, answers, plan_, phase), f"{cfg.experiment}-{cfg.seed}")
    return finish(cfg, plan_, answers, lake_url, register, began, files)


def run_served(cfg: SimConfig, lake_url: str, http: Poster, base_url: str, *, token: str | None = None,
               entity_key: str = "user_id", features: Callable[[int], dict[str, Any]] | None = None,
               register: RegisterTable | None = None, user_ids: Sequence[str] | None = None,
               concurrency: int = 4, progress: Callable[[str, float], None] | None = None) -> SimResult:
    """Send every session's request through the Inference Service, then write the responses."""
    from mlplat.outcomes.simulate import plan

    began = time.monotonic()
    plan_ = plan(cfg, user_ids)
    answers = send(http, base_url, cfg, plan_, token=token, entity_key=entity_key, features=features,
                   concurrency=concurrency, progress=progress)
    return finish(cfg, plan_, answers, lake_url, register, began)


def arm_counts(unit_arms: Sequence[str] | np.ndarray) -> dict[str, int]:
    names, counts = np.unique(np.asarray(unit_arms, dtype=object).astype(str), return_counts=True)
    return {str(k) or "(outside)": int(v) for k, v in zip(names, counts)}


__all__ = ["Answers", "LOG_SCHEMA", "SIM_TABLES", "SimResult", "arm_counts", "assign_locally", "finish",
           "log_rows", "run_local", "run_served", "send", "write_log", "write_responses"]
