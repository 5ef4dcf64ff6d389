"""Experiments in the metadata database: rows in, records out. No authorization here (the service's verbs do it).

Every write that changes an experiment's status or split also writes its row
of ``experiment_status_changes`` in the same transaction, so the history can
never miss a change that happened.
"""

from __future__ import annotations

import builtins
from datetime import datetime, timezone
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mlplat.errors import ConflictError, NotFoundError
from mlplat.experiments.records import (
    BanditUpdate,
    Experiment,
    Layer,
    LayerSliceInfo,
    Phase,
    StatusChange,
    free_ranges,
)
from mlplat.experiments.spec import ExperimentSpec
from mlplat.metadata import Database
from mlplat.metadata.experiment_models import (
    BanditWeightRow,
    ExperimentLayerRow,
    ExperimentPhaseRow,
    ExperimentRow,
    ExperimentStatus,
    ExperimentStatusChangeRow,
)
from mlplat.metadata.models import utcnow


def iso(value: datetime | None) -> str | None:
    """ISO-8601 in UTC (SQLite gives naive datetimes back: they were written in UTC)."""
    if value is None:
        return None
    return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).isoformat()


def _phase(row: ExperimentPhaseRow) -> Phase:
    return Phase(phase=row.phase, arms=list(row.arms), weights=[float(w) for w in row.weights], seed=row.seed,
                 coverage=float(row.coverage), targeting=dict(row.targeting or {}), reason=row.reason,
                 created_by=row.created_by, created_at=iso(row.created_at) or "", started_at=iso(row.started_at),
                 ended_at=iso(row.ended_at))


def _change(row: ExperimentStatusChangeRow) -> StatusChange:
    return StatusChange(row.from_status, row.to_status, row.phase, row.by, row.reason, iso(row.at) or "")


def _layer_columns(spec: ExperimentSpec) -> dict[str, Any]:
    layer = spec.layer
    return {"layer": layer.name if layer else None, "layer_start": layer.start if layer else None,
            "layer_end": layer.end if layer else None}


class ExperimentStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reading -----------------------------------------------------------------
    def _row(self, s: Session, name: str) -> ExperimentRow:
        row = s.get(ExperimentRow, name)
        if row is None:
            import difflib

            names = list(s.scalars(select(ExperimentRow.name)))
            hint = difflib.get_close_matches(name, names, n=1)
            raise NotFoundError(f"no experiment named {name!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""),
                                experiment=name)
        return row

    def _record(self, s: Session, row: ExperimentRow, detail: bool = True) -> Experiment:
        phases: list[Phase] = []
        history: list[StatusChange] = []
        if detail:
            phases = [_phase(p) for p in s.scalars(select(ExperimentPhaseRow).where(
                ExperimentPhaseRow.experiment == row.name).order_by(ExperimentPhaseRow.phase))]
            history = [_change(c) for c in s.scalars(select(ExperimentStatusChangeRow).where(
                ExperimentStatusChangeRow.experiment == row.name).order_by(ExperimentStatusChangeRow.id))]
        return Experiment(name=row.name, team=row.team, status=row.status.value, phase=row.phase,
                          weights=[float(w) for w in row.weights], spec=dict(row.spec),
                          conclusion=None if row.conclusion is None else dict(row.conclusion),
                          created_by=row.created_by, created_at=iso(row.created_at) or "",
                          updated_at=iso(row.updated_at) or "", started_at=iso(row.started_at),
                          ended_at=iso(row.ended_at), phases=phases, history=history)

    def get(self, name: str) -> Experiment:
        with self.db.session() as s:
            return self._record(s, self._row(s, name))

    def exists(self, name: str) -> bool:
        with self.db.session() as s:
            return s.get(ExperimentRow, name) is not None

    def list(self, status: str | None = None, team: str | None = None,
             detail: bool = False) -> builtins.list[Experiment]:
        with self.db.session() as s:
            query = select(ExperimentRow).order_by(ExperimentRow.name)
            if status:
                query = query.where(ExperimentRow.status == ExperimentStatus(status))
            if team:
                query = query.where(ExperimentRow.team == team)
            return [self._record(s, r, detail) for r in s.scalars(query)]

    def live(self) -> builtins.list[Experiment]:
        """Every experiment an Inference Service worker must know of: running or stopped."""
        with self.db.session() as s:
            rows = s.scalars(select(ExperimentRow).where(
                ExperimentRow.status.in_([ExperimentStatus.running, ExperimentStatus.stopped]))
                .order_by(ExperimentRow.name))
            return [self._record(s, r, detail=False) for r in rows]

    # -- writing -------------------------------------------------------------------
    def create(self, spec: ExperimentSpec, by: str) -> Experiment:
        now = utcnow()
        try:
            with self.db.session() as s:
                if s.get(ExperimentRow, spec.name) is not None:
                    raise ConflictError(f"experiment {spec.name!r} exists already", experiment=spec.name)
                s.add(ExperimentRow(name=spec.name, team=spec.team, status=ExperimentStatus.draft,
                                    spec=spec.to_dict(), phase=1, weights=list(spec.weights), created_by=by,
                                    created_at=now, updated_at=now, **_layer_columns(spec)))
                s.flush()
                s.add(self._phase_row(spec, 1, by, "created", now))
                s.add(ExperimentStatusChangeRow(experiment=spec.name, from_status=None, to_status="draft", phase=1,
                                                by=by, reason="created", at=now))
        except IntegrityError:  # a concurrent create of the same name
            raise ConflictError(f"experiment {spec.name!r} exists already", experiment=spec.name) from None
        return self.get(spec.name)

    @staticmethod
    def _phase_row(spec: ExperimentSpec, phase: int, by: str, reason: str, now: datetime,
                   started: datetime | None = None) -> ExperimentPhaseRow:
        return ExperimentPhaseRow(experiment=spec.name, phase=phase, arms=[a.to_dict() for a in spec.arms],
                                  weights=list(spec.weights), seed=spec.seed, coverage=spec.coverage,
                                  targeting=dict(spec.targeting), reason=reason, created_by=by, created_at=now,
                                  started_at=started)

    def set_status(self, name: str, to: str, by: str, reason: str = "",
                   conclusion: dict[str, Any] | None = None) -> Experiment:
        now = utcnow()
        with self.db.session() as s:
            row = self._row(s, name)
            before = row.status.value
            row.status = ExperimentStatus(to)
            current = self._current_phase(s, name, row.phase)
            if to == "running":
                row.started_at = row.started_at or now
                row.ended_at = None
                if current.started_at is None:
                    current.started_at = now
            elif to in ("stopped", "concluded"):
                row.ended_at = row.ended_at or now
                if to == "concluded" and current.ended_at is None:
                    current.ended_at = now
            if conclusion is not None:
                row.conclusion = conclusion
            if to == "concluded":  # the slice of its layer is free again
                row.layer_start = row.layer_end = row.layer = None
            row.updated_at = now
            s.add(ExperimentStatusChangeRow(experiment=name, from_status=before, to_status=to, phase=row.phase, by=by,
                                            reason=reason, at=now))
        return self.get(name)

    @staticmethod
    def _current_phase(s: Session, name: str, phase: int) -> ExperimentPhaseRow:
        found = s.scalar(select(ExperimentPhaseRow).where(ExperimentPhaseRow.experiment == name,
                                                          ExperimentPhaseRow.phase == phase))
        assert found is not None, f"experiment {name} lost its phase {phase}"
        return found

    def change(self, spec: ExperimentSpec, by: str, reason: str, new_phase: bool) -> Experiment:
        """Store a changed definition; with ``new_phase`` close the current phase and open the next."""
        now = utcnow()
        with self.db.session() as s:
            row = self._row(s, spec.name)
            current = self._current_phase(s, spec.name, row.phase)
            row.spec, row.weights, row.updated_at = spec.to_dict(), list(spec.weights), now
            for key, value in _layer_columns(spec).items():
                setattr(row, key, value)
            if new_phase:
                current.ended_at = now
                row.phase += 1
                running = row.status == ExperimentStatus.running
                s.add(self._phase_row(spec, row.phase, by, reason, now, started=now if running else None))
            else:  # a draft's only phase, which no unit has seen yet
                fresh = self._phase_row(spec, row.phase, by, reason, now)
                for key in ("arms", "weights", "seed", "coverage", "targeting", "reason"):
                    setattr(current, key, getattr(fresh, key))
            s.add(ExperimentStatusChangeRow(experiment=spec.name, from_status=row.status.value,
                                            to_status=row.status.value, phase=row.phase, by=by,
                                            reason=reason, at=now))
        return self.get(spec.name)

    # -- bandits ---------------------------------------------------------------------
    def record_weights(self, name: str, phase: int, stage: str, weights: Sequence[float], trials: Sequence[int],
                       successes: Sequence[int], chance_to_be_best: Sequence[float] | None) -> BanditUpdate:
        now = utcnow()
        with self.db.session() as s:
            row = self._row(s, name)
            if row.phase != phase:
                raise ConflictError(f"experiment {name!r} moved to phase {row.phase} while its bandit update for "
                                    f"phase {phase} ran; run the update again", experiment=name)
            row.weights, row.updated_at = [float(w) for w in weights], now
            s.add(BanditWeightRow(experiment=name, phase=phase, stage=stage, weights=[float(w) for w in weights],
                                  trials=[int(t) for t in trials], successes=[int(x) for x in successes],
                                  chance_to_be_best=None if chance_to_be_best is None
                                  else [float(p) for p in chance_to_be_best], at=now))
        return BanditUpdate(name, phase, stage, [float(w) for w in weights], [int(t) for t in trials],
                            [int(x) for x in successes],
                            None if chance_to_be_best is None else [float(p) for p in chance_to_be_best],
                            iso(now) or "")

    def weight_history(self, name: str, phase: int | None = None) -> builtins.list[BanditUpdate]:
        with self.db.session() as s:
            query = select(BanditWeightRow).where(BanditWeightRow.experiment == name)
            if phase is not None:
                query = query.where(BanditWeightRow.phase == phase)
            rows = s.scalars(query.order_by(BanditWeightRow.id))
            return [BanditUpdate(r.experiment, r.phase, r.stage, list(r.weights), list(r.trials), list(r.successes),
                                 None if r.chance_to_be_best is None else list(r.chance_to_be_best), iso(r.at) or "")
                    for r in rows]

    # -- layers ----------------------------------------------------------------------
    def ensure_layer(self, name: str, by: str, description: str = "") -> None:
        try:
            with self.db.session() as s:
                if s.get(ExperimentLayerRow, name) is None:
                    s.add(ExperimentLayerRow(name=name, description=description, created_by=by, created_at=utcnow()))
        except IntegrityError:  # made by a concurrent call: it exists, which is all we need
            pass

    def slices(self, layer: str, exclude: str | None = None) -> builtins.list[LayerSliceInfo]:
        """The slices experiments hold in ``layer`` (drafts, running and stopped ones)."""
        with self.db.session() as s:
            rows = s.scalars(select(ExperimentRow).where(ExperimentRow.layer == layer)
                             .order_by(ExperimentRow.layer_start))
            return [LayerSliceInfo(r.name, r.status.value, float(r.layer_start or 0), float(r.layer_end or 0))
                    for r in rows if r.name != exclude]

    def layers(self) -> builtins.list[Layer]:
        with self.db.session() as s:
            rows = list(s.scalars(select(ExperimentLayerRow).order_by(ExperimentLayerRow.name)))
        out = []
        for r in rows:
            slices = self.slices(r.name)
            out.append(Layer(r.name, r.description, r.created_by, iso(r.created_at) or "", slices,
                             free_ranges([(x.start, x.end) for x in slices])))
        return out


__all__ = ["ExperimentStore", "iso"]
