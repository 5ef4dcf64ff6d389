"""``%deploy``, ``%rollback``, ``%deployments`` and ``%predict``: Managed Model Hosting in a notebook."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from mlplat.pairs import parse_pairs
from mlplat_magics.base import ClientMagics, parse
from mlplat_magics.display import Table
from mlplat_magics.progress import progress_bar


@dataclass
class DeploymentCard:
    """A deployment: its outcome and each check (step, ok, detail, seconds)."""

    info: Any

    def checks(self) -> Table:
        return Table(["step", "ok", "seconds", "detail"],
                     [[c["step"], c["ok"], f"{c['seconds']:.2f}", c["detail"]] for c in self.info.checks],
                     title=f"{self.info.action} {self.info.model} v{self.info.version}: {self.info.status}")

    def _repr_html_(self) -> str:
        return self.checks()._repr_html_() + f"<p>{html.escape(self.info.message)}</p>"

    def __repr__(self) -> str:
        return f"{self.checks()!r}\n{self.info.message}"


def deployments_table(found: list[Any], title: str = "deployments (newest first)") -> Table:
    return Table(["id", "model", "version", "previous", "action", "status", "by", "at", "message"],
                 [[d.id, d.model, d.version, d.previous_version or "-", d.action, d.status, d.created_by,
                   d.created_at[:19], d.message] for d in found], title=title)


@dataclass
class Prediction:
    """``%predict``: the answer, with its output as a table."""

    answer: dict[str, Any]

    def _table(self) -> Table:
        a = self.answer
        return Table(["output", "value"], [[k, v] for k, v in a["output"].items()],
                     title=f"{a['model']} v{a['version']} (prediction {a['prediction_id']})")

    def _repr_html_(self) -> str:
        return self._table()._repr_html_()

    def __repr__(self) -> str:
        return repr(self._table())

    def __getitem__(self, key: str) -> Any:
        return self.answer[key]


@magics_class
class ServingMagics(ClientMagics):
    NAME = "deploy"

    @magic_arguments("deploy")
    @argument("model")
    @argument("--version", type=int, help="the version (default: the candidate alias, else the newest)")
    @argument("--alias", help="deploy the version this alias points at")
    @argument("--store-fallback", action="store_true", help="serve declared defaults while Online Serving is down")
    @argument("--force", action="store_true", help="skip the environment check (recorded)")
    def _deploy(self, line: str) -> DeploymentCard:
        """Check a registered version (environment, container spec, sanity test, Online Serving) and make it live."""
        args = parse(self._deploy, line)
        with progress_bar(f"deploy {args.model}") as bar:
            info = self.client.serving.deploy(args.model, args.version, alias=args.alias,
                                              store_fallback=args.store_fallback, force=args.force, progress=bar)
        return DeploymentCard(info)

    @magic_arguments("rollback")
    @argument("model")
    def _rollback(self, line: str) -> DeploymentCard:
        """Deploy the version that was live before the current one (same checks)."""
        args = parse(self._rollback, line)
        with progress_bar(f"rollback {args.model}") as bar:
            info = self.client.serving.rollback(args.model, progress=bar)
        return DeploymentCard(info)

    @magic_arguments("deployments")
    @argument("model", nargs="?")
    @argument("--limit", type=int, default=50)
    def _deployments(self, line: str) -> Table:
        """The deployment history, newest first."""
        args = parse(self._deployments, line)
        return deployments_table(self.client.serving.deployments(args.model, limit=args.limit))

    @magic_arguments("predict")
    @argument("model")
    @argument("--entity", action="append", required=True, help="KEY=VALUE of the entity, e.g. user_id=u1")
    @argument("--feature", action="append", help="KEY=VALUE session feature (JSON values); repeatable")
    def _predict(self, line: str) -> Prediction:
        """One prediction from the deployed version, with the entity's features from Online Serving."""
        args = parse(self._predict, line)
        entity = parse_pairs(args.entity, "--entity", typed=False)
        return Prediction(self.client.serving.predict(args.model, entity, parse_pairs(args.feature, "--feature")))

    def _line(self, fn: Any, line: str) -> Any:
        from mlplat_magics.models import _help_or_run

        return _help_or_run(fn, line)

    @line_magic
    def deploy(self, line: str) -> Any:
        """Deploy a model: %deploy MODEL [--version V] [--store-fallback] [--force] (``%deploy -h``)."""
        return self._line(self._deploy, line)

    @line_magic
    def rollback(self, line: str) -> Any:
        """Roll a model back to the version live before: %rollback MODEL."""
        return self._line(self._rollback, line)

    @line_magic
    def deployments(self, line: str) -> Any:
        """Deployment history: %deployments [MODEL]."""
        return self._line(self._deployments, line)

    @line_magic
    def predict(self, line: str) -> Any:
        """One prediction: %predict MODEL --entity user_id=u1 [--feature device=ios ...]."""
        return self._line(self._predict, line)
