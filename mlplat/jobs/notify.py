"""Telling a team that its job failed: an Alert row, an e-mail, a webhook.

The Alert row is written in the same transaction that records the run's last
failed attempt (``JobStore.finish``), so it exists exactly once. E-mail and
webhook are sent afterwards by whichever process finished the run (a worker,
or the scheduler for a lost worker); each delivery's outcome is written back
into the alert's ``details["delivery"]`` so a failed delivery is visible
rather than swallowed.
"""

from __future__ import annotations

import logging
import os
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

from mlplat.metadata.models import Alert

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.jobs.records import JobInfo, RunInfo
    from mlplat.metadata import Database

log = logging.getLogger("mlplat.jobs.notify")


def alert_row(job: "JobInfo", run: "RunInfo") -> Alert:
    """The Alert for a run that failed its last attempt."""
    what = "timed out" if run.status == "timed_out" else "failed"
    return Alert(
        source="job",
        subject=job.name,
        team=job.team,
        severity="error",
        message=(f"job {job.name} {what} for ds {run.ds.isoformat()} after {run.attempt} attempt(s): "
                 f"{run.error or 'no error text'}"),
        details={"run_id": run.id, "ds": run.ds.isoformat(), "attempt": run.attempt, "status": run.status,
                 "output_url": run.output_url, "html_url": run.html_url, "error": run.error},
    )


def failure_payload(job: "JobInfo", run: "RunInfo", alert_id: int | None) -> dict[str, Any]:
    """The webhook body (JSON)."""
    return {
        "event": "job.failed", "job": job.name, "team": job.team, "owner": job.spec.owner, "ds": run.ds.isoformat(),
        "run_id": run.id, "attempt": run.attempt, "status": run.status, "trigger": run.trigger, "error": run.error,
        "output_url": run.output_url, "html_url": run.html_url, "alert_id": alert_id,
    }


@dataclass
class Notifier:
    """Sends failure notices. SMTP settings come from arguments, else ``MLPLAT_SMTP_*`` variables.

    (They belong in ``Settings``; until they are there, the scheduler passes
    its notifier's configuration to its workers through ``as_env``.)
    """

    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_from: str | None = None
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool | None = None
    timeout: float = 10.0
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)

    def __post_init__(self) -> None:
        env = self.env
        self.smtp_host = self.smtp_host if self.smtp_host is not None else env.get("MLPLAT_SMTP_HOST", "")
        self.smtp_port = int(self.smtp_port if self.smtp_port is not None else env.get("MLPLAT_SMTP_PORT") or 25)
        self.smtp_from = self.smtp_from or env.get("MLPLAT_SMTP_FROM") or "mlplat@localhost"
        self.smtp_user = self.smtp_user if self.smtp_user is not None else env.get("MLPLAT_SMTP_USER", "")
        if self.smtp_password is None:
            self.smtp_password = env.get("MLPLAT_SMTP_PASSWORD", "")
        if self.smtp_starttls is None:
            self.smtp_starttls = env.get("MLPLAT_SMTP_STARTTLS", "").lower() in ("1", "true", "yes")

    def as_env(self) -> dict[str, str]:
        """The configuration as environment variables, for worker processes."""
        return {
            "MLPLAT_SMTP_HOST": self.smtp_host or "", "MLPLAT_SMTP_PORT": str(self.smtp_port),
            "MLPLAT_SMTP_FROM": self.smtp_from or "", "MLPLAT_SMTP_USER": self.smtp_user or "",
            "MLPLAT_SMTP_PASSWORD": self.smtp_password or "",
            "MLPLAT_SMTP_STARTTLS": "1" if self.smtp_starttls else "0",
        }

    def send_email(self, to: list[str], subject: str, body: str) -> None:
        if not self.smtp_host:
            raise RuntimeError(
                "no SMTP host is configured: set MLPLAT_SMTP_HOST (and MLPLAT_SMTP_PORT, MLPLAT_SMTP_FROM)"
            )
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"] = self.smtp_from, ", ".join(to), subject
        msg.set_content(body)
        with smtplib.SMTP(self.smtp_host, self.smtp_port or 25, timeout=self.timeout) as smtp:
            if self.smtp_starttls:
                smtp.starttls()
            if self.smtp_user:
                smtp.login(self.smtp_user, self.smtp_password or "")
            smtp.send_message(msg)

    def post_webhook(self, url: str, payload: dict[str, Any]) -> None:
        import httpx

        response = httpx.post(url, json=payload, timeout=self.timeout)
        response.raise_for_status()

    def job_failed(
        self, job: "JobInfo", run: "RunInfo", alert_id: int | None = None, db: "Database | None" = None
    ) -> dict[str, str]:
        """Deliver to every configured channel; returns (and records on the alert) each outcome."""
        outcome: dict[str, str] = {}
        notify = job.spec.notify
        if notify.email:
            subject = f"[mlplat] job {job.name} {run.status} for ds {run.ds.isoformat()}"
            body = (
                f"Job {job.name} (team {job.team}, owner {job.spec.owner}) ended {run.status} for ds "
                f"{run.ds.isoformat()} on attempt {run.attempt}.\n\nError: {run.error}\n\n"
                f"Executed notebook: {run.output_url}\nHTML: {run.html_url}\nRun id: {run.id}\n"
            )
            outcome["email"] = self._attempt(lambda: self.send_email(list(notify.email), subject, body), "email", job)
        if notify.webhook:
            payload = failure_payload(job, run, alert_id)
            outcome["webhook"] = self._attempt(lambda: self.post_webhook(notify.webhook, payload), "webhook", job)
        if db is not None and alert_id is not None and outcome:
            with db.session() as s:
                alert = s.get(Alert, alert_id)
                if alert is not None:
                    alert.details = {**(alert.details or {}), "delivery": outcome}
        return outcome

    @staticmethod
    def _attempt(send: Any, channel: str, job: "JobInfo") -> str:
        try:
            send()
        except Exception as exc:  # recorded on the alert and logged; the run is final already
            log.warning("could not send the %s notice for job %s: %s", channel, job.name, exc)
            return f"error: {type(exc).__name__}: {exc}"
        return "sent"
