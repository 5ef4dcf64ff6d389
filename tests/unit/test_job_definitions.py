"""Job definitions and schedule arithmetic: validation, the ds convention, idempotency keys."""

from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from mlplat.errors import ValidationError
from mlplat.jobs.definitions import (
    JobSpec,
    NotifySpec,
    Schedule,
    SchedulerConfig,
    backoff_seconds,
    is_daily_or_coarser,
    parse_seconds,
)

UTC = timezone.utc


def spec(**changes: object) -> JobSpec:
    base: dict[str, object] = {"name": "daily_clicks", "notebook": "/nb/clicks.ipynb", "cron": "@daily",
                               "team": "growth"}
    return JobSpec.from_dict({**base, **changes})


def test_a_full_definition_round_trips_through_dict_and_yaml() -> None:
    job = spec(
        timezone="Europe/Berlin", parameters={"q": "it's \"quoted\"\nand {braces}", "d": {"k": [1, None, True]}},
        retries=3, retry_backoff_seconds="2m", timeout_seconds="1h", max_concurrency=2, after=["raw_events"],
        catch_up=False, notify={"email": ["ds@example.com"], "webhook": "https://hooks.example.com/x"},
    )
    assert job.retry_backoff_seconds == 120 and job.timeout_seconds == 3600
    assert job.after == ("raw_events",) and job.notify.email == ("ds@example.com",)
    assert JobSpec.from_dict(job.to_dict()) == job
    yaml_text = "name: daily_clicks\nnotebook: /nb/clicks.ipynb\ncron: '30 2 * * *'\nteam: growth\nparameters: {n: 3}\n"
    assert JobSpec.from_yaml(yaml_text).parameters == {"n": 3}


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"name": "Bad Name"}, "job name"),
        ({"notebook": "/nb/clicks.py"}, ".ipynb"),
        ({"cron": "every day"}, "cron"),
        ({"cron": "0 0 * * * *"}, "cron"),  # six fields (seconds) are not accepted
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"parameters": {"ds": "2026-01-01"}}, "set by the scheduler"),
        ({"parameters": {"run_id": 1}}, "set by the scheduler"),
        ({"parameters": {"not an identifier": 1}}, "identifier"),
        ({"parameters": {"x": float("nan")}}, "JSON"),
        ({"parameters": {"x": object()}}, "JSON"),
        ({"retries": -1}, "retries"),
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"timeout_seconds": "soon"}, "duration"),
        ({"after": ["daily_clicks"]}, "itself"),
        ({"notify": {"email": ["not-an-address"]}}, "e-mail"),
        ({"notify": {"webhook": "ftp://x"}}, "http"),
        ({"notify": {"slack": "#x"}}, "unknown notify"),
        ({"schedule": "@daily"}, "did you mean 'cron'"),
        ({"timzone": "UTC"}, "did you mean 'timezone'"),
    ],
)
def test_invalid_definitions_say_what_is_wrong(changes: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**changes)


def test_missing_required_fields_are_named() -> None:
    with pytest.raises(ValidationError, match="needs notebook, cron"):
        JobSpec.from_dict({"name": "x"})


def test_merge_changes_fields_but_never_the_name() -> None:
    assert spec().merge({"retries": 2}).retries == 2
    with pytest.raises(ValidationError, match="renamed"):
        spec().merge({"name": "other"})


def test_durations_and_backoff() -> None:
    assert [parse_seconds(v, "t") for v in (90, "90", "90s", "30m", "2h", "1d", "1w")] == [
        90, 90, 90, 1800, 7200, 86400, 604800
    ]
    assert [backoff_seconds(60, a) for a in (1, 2, 3, 4)] == [60, 120, 240, 480]
    assert backoff_seconds(3600, 20) == 6 * 3600  # capped


def test_daily_job_firing_at_midnight_runs_the_previous_day() -> None:
    # The ds convention: the run due at 00:00 on D+1 covers [D, D+1) and has ds = D.
    schedule = Schedule("@daily", "UTC")
    fires = schedule.fires(datetime(2026, 3, 1, 12, tzinfo=UTC), datetime(2026, 3, 4, 0, 0, tzinfo=UTC))
    assert [(f.ds, f.due_at) for f in fires] == [
        (date(2026, 3, 1), datetime(2026, 3, 2, tzinfo=UTC)),
        (date(2026, 3, 2), datetime(2026, 3, 3, tzinfo=UTC)),
        (date(2026, 3, 3), datetime(2026, 3, 4, tzinfo=UTC)),  # due exactly at `until`: included
    ]
    assert schedule.key(7, fires[0]) == "7:2026-03-01"
    assert schedule.latest(datetime(2026, 3, 4, 9, tzinfo=UTC)).ds == date(2026, 3, 3)


def test_schedules_follow_the_job_time_zone_across_daylight_saving() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    schedule = Schedule("30 2 * * *", "Europe/Berlin")
    # 2026-03-29 02:30 does not exist in Berlin (clocks jump 02:00 -> 03:00).
    fires = schedule.fires(datetime(2026, 3, 27, 12, tzinfo=berlin), datetime(2026, 3, 31, 12, tzinfo=berlin))
    due_local = [f.due_at.astimezone(berlin) for f in fires]
    assert [d.date() for d in due_local] == [date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30), date(2026, 3, 31)]
    assert [f.ds for f in fires] == [date(2026, 3, 27), date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30)]
    assert due_local[0].utcoffset() == timedelta(hours=1) and due_local[-1].utcoffset() == timedelta(hours=2)
    # Midnight in Berlin is 22:00 or 23:00 UTC the day before: ds is the local date.
    local_midnight = Schedule("0 0 * * *", "Europe/Berlin").fires(
        datetime(2026, 6, 1, 12, tzinfo=UTC), datetime(2026, 6, 2, 23, tzinfo=UTC))
    assert [(f.ds, f.due_at) for f in local_midnight] == [(date(2026, 6, 1), datetime(2026, 6, 1, 22, tzinfo=UTC)),
                                                          (date(2026, 6, 2), datetime(2026, 6, 2, 22, tzinfo=UTC))]


def test_sub_daily_schedules_get_one_key_per_interval() -> None:
    assert is_daily_or_coarser("@daily") and is_daily_or_coarser("15 3 * * 1") and is_daily_or_coarser("@weekly")
    assert not is_daily_or_coarser("@hourly") and not is_daily_or_coarser("0 */6 * * *")
    assert not is_daily_or_coarser("0 0,12 * * *")
    schedule = Schedule("0 */6 * * *")
    fires = schedule.fires(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2, tzinfo=UTC))
    assert [schedule.key(3, f) for f in fires] == ["3:2026-01-01T00:00", "3:2026-01-01T06:00",
                                                   "3:2026-01-01T12:00", "3:2026-01-01T18:00"]


def test_backfill_intervals_cover_each_ds_once() -> None:
    daily = Schedule("@daily").intervals(date(2026, 1, 1), date(2026, 1, 7))
    assert [f.ds for f in daily] == [date(2026, 1, d) for d in range(1, 8)]
    weekly = Schedule("0 0 * * 1").intervals(date(2026, 1, 1), date(2026, 1, 31))  # Mondays
    assert [f.ds for f in weekly] == [date(2026, 1, d) for d in (5, 12, 19, 26)]
    assert all(f.due_at - f.interval_start == timedelta(days=7) for f in weekly)


def test_notify_and_scheduler_config_validation() -> None:
    assert NotifySpec.from_dict({"email": "a@b.co"}).email == ("a@b.co",)
    with pytest.raises(ValidationError):
        SchedulerConfig(max_workers=0)
    with pytest.raises(ValidationError, match="stale_after"):
        SchedulerConfig(heartbeat_seconds=5, stale_after_seconds=6)


def test_a_template_reference_is_kept_and_a_path_made_absolute(tmp_path, monkeypatch) -> None:
    from mlplat.jobs.templates import notebook_argument

    monkeypatch.chdir(tmp_path)
    assert notebook_argument("template:compute_feature_set") == "template:compute_feature_set"
    assert notebook_argument("daily.ipynb") == str(tmp_path / "daily.ipynb")
