"""Job definitions (data, validated once) and the schedule arithmetic everything else shares.

The ``ds`` convention (the same as Airflow's ``{{ ds }}``): a schedule fires at
times t0 < t1 < ...; the run that fires at t(i+1) covers the interval
[t(i), t(i+1)) and its ``ds`` is the local date (in the job's time zone) of
the interval's *start*. A ``@daily`` job firing at 00:00 on day D+1 therefore
runs ``ds = D``: the day whose data is complete. A weekly job runs the week
that started on ``ds``.

Idempotency keys make enqueueing exactly-once across scheduler processes
(``job_runs.idempotency_key`` is unique): ``"{job_id}:{ds}"`` for schedules
that fire at most once a day, ``"{job_id}:{ds}T{HH:MM}"`` (the interval
start) for sub-daily ones. Manual re-runs and forced backfills append
``":manual:<n>"`` / ``":backfill:<n>"``; retries append ``"#<attempt>"``.
"""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mlplat.errors import ValidationError
from mlplat.jobs.templates import PREFIX as TEMPLATE_PREFIX
from mlplat.jobs.templates import template_name, template_path

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,99}$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Macros croniter understands; the daily-or-coarser ones get one run per ds.
_DAILY_MACROS = {"@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"}
_MACROS = _DAILY_MACROS | {"@hourly"}
RESERVED_PARAMETERS = ("ds", "run_id")
MAX_BACKOFF_SECONDS = 6 * 3600


def parse_seconds(value: int | float | str, what: str) -> int:
    """Seconds from a number or a duration like ``90s``, ``30m``, ``2h``, ``1d``."""
    if isinstance(value, bool):
        raise ValidationError(f"{what} must be a duration, got {value!r}")
    if isinstance(value, (int, float)):
        return int(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValidationError(f"{what} {value!r} is not a duration: write seconds or e.g. 90s, 30m, 2h, 1d")
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def validate_cron(cron: str) -> str:
    """A 5-field cron expression or one of the @-macros; raises with the accepted forms."""
    from croniter import croniter

    text = " ".join(str(cron).split())
    if text in _MACROS or (len(text.split()) == 5 and croniter.is_valid(text)):
        return text
    raise ValidationError(
        f"cron {cron!r} is not valid: use a 5-field expression (minute hour day month weekday, "
        f"e.g. '30 2 * * *') or one of {', '.join(sorted(_MACROS))}"
    )


def validate_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"time zone {name!r} is unknown: use an IANA name like 'UTC' or 'Europe/Berlin'") from None
    return name


def is_daily_or_coarser(cron: str) -> bool:
    """True when the schedule fires at most once per local day (one run per ds)."""
    if cron in _MACROS:
        return cron in _DAILY_MACROS
    minute, hour = cron.split()[:2]
    return minute.isdigit() and hour.isdigit()


@dataclass(frozen=True)
class Fire:
    """One scheduled run: its ds, its interval start (local) and when it is due (UTC)."""

    ds: date
    interval_start: datetime
    due_at: datetime


class Schedule:
    """A cron expression evaluated in one time zone (DST-aware through croniter)."""

    def __init__(self, cron: str, tz: str = "UTC") -> None:
        self.cron = validate_cron(cron)
        self.tz = ZoneInfo(validate_timezone(tz))
        self.daily = is_daily_or_coarser(self.cron)

    def _iter(self, start: datetime) -> Any:
        from croniter import croniter

        return croniter(self.cron, start.astimezone(self.tz))

    def fires(self, after: datetime, until: datetime, limit: int = 100_000) -> list[Fire]:
        """Fires due in (after, until], oldest first."""
        it = self._iter(after)
        due: datetime = it.get_next(datetime)
        if due > until:
            return []
        start: datetime = self._iter(due).get_prev(datetime)
        out: list[Fire] = []
        while due <= until and len(out) < limit:
            out.append(Fire(start.date(), start, due.astimezone(timezone.utc)))
            start, due = due, it.get_next(datetime)
        return out

    def next_due(self, after: datetime) -> datetime:
        return self._iter(after).get_next(datetime).astimezone(timezone.utc)

    def latest(self, now: datetime) -> Fire:
        """The most recent fire at or before ``now``."""
        due = self._iter(now + timedelta(microseconds=1)).get_prev(datetime)
        start = self._iter(due).get_prev(datetime)
        return Fire(start.date(), start, due.astimezone(timezone.utc))

    def intervals(self, first: date, last: date) -> list[Fire]:
        """Every run whose ds lies in [first, last] (for backfills)."""
        begin = datetime.combine(first, time(), self.tz) - timedelta(microseconds=1)
        it = self._iter(begin)
        out: list[Fire] = []
        start: datetime = it.get_next(datetime)
        while start.date() <= last:
            due = it.get_next(datetime)
            out.append(Fire(start.date(), start, due.astimezone(timezone.utc)))
            start = due
        return out

    def key(self, job_id: int, fire: Fire) -> str:
        if self.daily:
            return f"{job_id}:{fire.ds.isoformat()}"
        return f"{job_id}:{fire.ds.isoformat()}T{fire.interval_start.strftime('%H:%M')}"


def backoff_seconds(base: int, attempt: int) -> int:
    """Exponential backoff before attempt ``attempt + 1``: base, 2*base, 4*base, ... capped."""
    return int(min(base * 2 ** max(attempt - 1, 0), MAX_BACKOFF_SECONDS))


def resolve_notebook(notebook: str) -> Path:
    """The notebook file a job names.

    Absolute paths and ``file://`` URLs as given; ``template:<name>`` from the
    shipped job templates; relative paths inside the shipped notebooks/ folder.
    """
    if template_name(notebook) is not None:
        return template_path(notebook)
    parsed = urlparse(notebook)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    path = Path(notebook).expanduser()
    if path.is_absolute():
        return path
    from mlplat.config import resource_dir

    return resource_dir("notebooks") / path


@dataclass(frozen=True)
class NotifySpec:
    """Who hears about a run that failed its last attempt."""

    email: tuple[str, ...] = ()
    webhook: str = ""

    def __post_init__(self) -> None:
        emails = (self.email,) if isinstance(self.email, str) else tuple(self.email or ())
        for address in emails:
            if not _EMAIL.match(str(address)):
                raise ValidationError(f"notify.email {address!r} is not an e-mail address")
        if self.webhook and urlparse(self.webhook).scheme not in ("http", "https"):
            raise ValidationError(f"notify.webhook {self.webhook!r} must be an http(s) URL")
        object.__setattr__(self, "email", tuple(str(a) for a in emails))

    def to_dict(self) -> dict[str, Any]:
        return {"email": list(self.email), "webhook": self.webhook}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> "NotifySpec":
        data = dict(data or {})
        unknown = set(data) - {"email", "webhook"}
        if unknown:
            raise ValidationError(f"unknown notify setting(s): {', '.join(sorted(unknown))}; use email and webhook")
        return cls(email=data.get("email") or (), webhook=data.get("webhook") or "")


@dataclass(frozen=True)
class JobSpec:
    """A scheduled notebook, declared as data. Validated on construction."""

    name: str
    notebook: str
    cron: str
    timezone: str = "UTC"
    parameters: dict[str, Any] = field(default_factory=dict)
    owner: str = ""
    team: str = ""
    kernel: str = "mlplat"
    timeout_seconds: int = 3600
    retries: int = 0
    retry_backoff_seconds: int = 60
    max_concurrency: int = 1
    after: tuple[str, ...] = ()
    paused: bool = False
    catch_up: bool = True
    notify: NotifySpec = field(default_factory=NotifySpec)

    def __post_init__(self) -> None:
        if not _NAME.match(str(self.name)):
            raise ValidationError(
                f"job name {self.name!r} is not valid: lower-case letters, digits, '_' and '-', starting with a letter"
            )
        if not str(self.notebook).endswith(".ipynb") and template_name(self.notebook) is None:
            raise ValidationError(f"notebook {self.notebook!r} must be a .ipynb file or a job template "
                                  f"({TEMPLATE_PREFIX}<name>, e.g. {TEMPLATE_PREFIX}compute_feature_set)")
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 - frozen dataclass
        set_("cron", validate_cron(self.cron))
        validate_timezone(self.timezone)
        set_("parameters", _check_parameters(self.parameters))
        set_("timeout_seconds", parse_seconds(self.timeout_seconds, "timeout_seconds"))
        set_("retry_backoff_seconds", parse_seconds(self.retry_backoff_seconds, "retry_backoff_seconds"))
        for name, low in (("timeout_seconds", 1), ("retries", 0), ("retry_backoff_seconds", 0), ("max_concurrency", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValidationError(f"{name} must be an integer >= {low}, got {value!r}")
        after = (self.after,) if isinstance(self.after, str) else tuple(self.after or ())
        for dep in after:
            if not _NAME.match(str(dep)):
                raise ValidationError(f"after: {dep!r} is not a job name")
        if self.name in after:
            raise ValidationError(f"job {self.name!r} cannot run after itself")
        set_("after", tuple(dict.fromkeys(after)))
        if not isinstance(self.notify, NotifySpec):
            set_("notify", NotifySpec.from_dict(self.notify))
        if not self.kernel or not isinstance(self.kernel, str):
            raise ValidationError("kernel must name a Jupyter kernel spec, e.g. 'mlplat'")

    @property
    def schedule(self) -> Schedule:
        return Schedule(self.cron, self.timezone)

    def notebook_path(self) -> Path:
        return resolve_notebook(self.notebook)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["after"] = list(self.after)
        data["notify"] = self.notify.to_dict()
        data["parameters"] = json.loads(json.dumps(self.parameters))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "JobSpec":
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            aliases = {"schedule": "cron", "timeout": "timeout_seconds", "depends_on": "after", "tz": "timezone"}
            hints = [aliases.get(u) or next(iter(difflib.get_close_matches(u, known, n=1)), "") for u in unknown]
            hints = [h for h in hints if h]
            hint = f"; did you mean {', '.join(repr(h) for h in hints)}?" if hints else ""
            raise ValidationError(f"unknown job field(s): {', '.join(unknown)}{hint}", fields=unknown)
        missing = [n for n in ("name", "notebook", "cron") if not data.get(n)]
        if missing:
            raise ValidationError(f"a job needs {', '.join(missing)}", missing=missing)
        values = dict(data)
        values["notify"] = NotifySpec.from_dict(values.get("notify"))
        return cls(**values)

    @classmethod
    def from_yaml(cls, text: str) -> "JobSpec":
        import yaml

        data = yaml.safe_load(text)
        if not isinstance(data, dict):
            raise ValidationError("a job definition in YAML must be a mapping of fields")
        return cls.from_dict(data)

    def merge(self, changes: dict[str, Any]) -> "JobSpec":
        """A copy with ``changes`` applied (the name cannot change: delete and create instead)."""
        if "name" in changes and changes["name"] != self.name:
            raise ValidationError("a job cannot be renamed: create a new job and delete this one")
        return JobSpec.from_dict({**self.to_dict(), **changes})


def _check_parameters(parameters: Any) -> dict[str, Any]:
    if not isinstance(parameters, dict):
        raise ValidationError("parameters must be a mapping of name to value")
    for key in parameters:
        if not isinstance(key, str) or not _IDENT.match(key):
            raise ValidationError(f"parameter name {key!r} is not a Python identifier")
        if key in RESERVED_PARAMETERS:
            raise ValidationError(f"parameter {key!r} is set by the scheduler for every run; choose another name")
    try:
        return json.loads(json.dumps(parameters, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"parameters must be JSON values (str, finite number, bool, null, list, dict): {exc}") from None


@dataclass(frozen=True)
class SchedulerConfig:
    """How one scheduler process runs: its worker count is the global concurrency limit."""

    max_workers: int = 2
    tick_seconds: float = 2.0
    plan_every_seconds: float = 30.0
    heartbeat_seconds: float = 5.0
    stale_after_seconds: float = 60.0
    kill_grace_seconds: float = 10.0

    def __post_init__(self) -> None:
        if self.max_workers < 1:
            raise ValidationError("max_workers must be at least 1")
        if self.stale_after_seconds <= 2 * self.heartbeat_seconds:
            raise ValidationError("stale_after_seconds must exceed twice heartbeat_seconds")

    def replace(self, **changes: Any) -> "SchedulerConfig":
        return replace(self, **changes)

