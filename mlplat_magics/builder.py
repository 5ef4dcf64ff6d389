"""The point-and-click model builder (``%model builder``): pick, train, look, register, deploy.

Training runs in the kernel while the click is handled, feeding a progress
bar, then shows the card ``%train`` shows. Register stores *that* request:
the client has no verb that uploads a pipeline trained earlier (a pipeline in
the kernel is not one the platform API could trust), so Register runs the
same request again with ``register=NAME``. The split and the model are seeded,
and a tuned request names the finished study, which resumes with no trial
left to run, so the registered version is the one on screen; the builder
checks that its metrics match.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from mlplat.errors import MlplatError
from mlplat_magics.model_cards import TrainCard, fmt
from mlplat_magics.panel import Panel, row

NO_TUNING = "none"  # a Dropdown shows nothing for the value None, so "none" is a value of its own
SESSION_MARK = "session"  # label-set columns: the caller sends them with each request
STORE_MARK = "store"  # feature-set columns: read from Online Serving at request time


def _error(message: str) -> str:
    return f"<span style='color:#cf222e'>{html.escape(message)}</span>"


class ModelBuilder(Panel):
    """Example set, target, features (session ones marked), model, tuning; Train, then Register."""

    title = "model builder"

    def __init__(self, client: Any) -> None:
        self.client = client
        self.outcome: Any = None  # what Train produced
        self.registered: Any = None  # what Register produced
        self.request: dict[str, Any] | None = None  # what Train was asked, replayed by Register
        self._session_columns: list[str] = []
        self._store_columns: list[str] = []

        wide = w.Layout(width="100%", max_width="520px")
        sets = client.examples.list()
        self.examples = w.Dropdown(options=[(f"{e.name} (v{e.version}, {e.rows} rows, {e.team})", e.name)
                                            for e in sets], value=None, description="Examples", layout=wide)
        self.target = w.Dropdown(options=[], description="Target", layout=wide)
        self.features = w.SelectMultiple(options=[], rows=8, description="Features", layout=wide)
        catalog = client.models.catalog()
        self.model = w.Dropdown(options=[(f"{k['name']}: {k['description']}", k["name"]) for k in catalog],
                                description="Model", layout=wide)
        self.tuning = w.Dropdown(options=[("none", NO_TUNING), ("grid search", "grid"),
                                          ("Bayesian (Optuna TPE)", "bayesian")], value=NO_TUNING, description="Tuning")
        self.trials = w.BoundedIntText(value=10, min=1, max=1000, description="Trials")
        self.train_button = w.Button(description="Train", button_style="primary", icon="play")
        self.progress = w.FloatProgress(value=0.0, min=0.0, max=1.0,
                                        layout=w.Layout(width="300px", max_width="100%", visibility="hidden"))
        self.status = w.Label()
        self.message = w.HTML()
        self.result = w.HTML(layout=w.Layout(max_width="100%", overflow="auto"))
        self.name = w.Text(placeholder="model name", description="Name")
        self.team = w.Text(placeholder="default: the example set's team", description="Team")
        self.register_button = w.Button(description="Register", icon="upload", disabled=True)
        self.deploy_button = w.Button(description="Deploy", icon="rocket", disabled=True,
                                      tooltip="deploy the registered version (checks, then production)")
        self.deployed: Any = None  # what Deploy produced

        self.examples.observe(lambda change: self.select_examples(change["new"]), names="value")
        self.target.observe(lambda change: self.select_target(change["new"]), names="value")
        self.train_button.on_click(lambda _b: self.train())
        self.register_button.on_click(lambda _b: self.register())
        self.deploy_button.on_click(lambda _b: self.deploy())
        self.widget = w.VBox([
            self.examples, self.target, self.features, self.model, row(self.tuning, self.trials),
            row(self.train_button, self.progress, self.status), self.message,
            row(self.name, self.team, self.register_button, self.deploy_button), self.result,
        ], layout=w.Layout(max_width="100%"))
        if "xgboost" in {k["name"] for k in catalog}:
            self.model.value = "xgboost"
        if sets:
            self.examples.value = sets[0].name
        else:
            self.message.value = "no example sets yet: build one with %examples build"

    # -- choosing ------------------------------------------------------------------
    def select_examples(self, name: str | None) -> None:
        """Targets are the example set's label columns (then its feature columns); the label set's last is chosen."""
        if not name:
            return
        try:
            manifest = self.client.examples.show(name).manifest
        except MlplatError as exc:
            self.message.value = _error(exc.message)
            return
        keys = {*manifest.get("entity", []), manifest.get("timestamp")}
        self._session_columns = [c for c in manifest.get("label_columns", []) if c not in keys]
        self._store_columns = [c for f in manifest.get("features", []) for c in f["output_columns"]]
        self.target.options = self._session_columns + self._store_columns
        self.target.value = self._session_columns[-1] if self._session_columns else None
        self.select_target(self.target.value)

    def select_target(self, target: str | None) -> None:
        """Every other column is a candidate input, all selected; session features are marked."""
        options = [(f"{c}  [{SESSION_MARK}]", c) for c in self._session_columns if c != target]
        options += [(f"{c}  [{STORE_MARK}]", c) for c in self._store_columns if c != target]
        self.features.options = options
        self.features.value = tuple(c for _, c in options)

    # -- training ------------------------------------------------------------------
    def _say(self, message: str, fraction: float) -> None:
        self.progress.value = max(0.0, min(1.0, fraction))
        self.status.value = message

    def _bar(self, state: str) -> None:
        """``start`` shows an empty bar, ``done`` fills it, ``failed`` hides it above the error message.

        The platform API reports no progress while it works, so the end is not left to the callbacks.
        """
        bar = self.progress
        if state == "start":
            bar.value, bar.bar_style, bar.layout.visibility = 0.0, "info", "visible"
            self.status.value = "working..."
        elif state == "done":
            bar.value, bar.bar_style, self.status.value = 1.0, "success", "done"
        else:
            bar.layout.visibility, self.status.value = "hidden", ""

    def _run(self, request: dict[str, Any], **extra: Any) -> Any:
        """Train (or tune) ``request`` with the progress bar; the outcome, or None after showing the error."""
        r = request
        common = {"features": r["features"], "session_features": r["session_features"], "progress": self._say, **extra}
        self.message.value = ""
        self.train_button.disabled = self.register_button.disabled = True
        self._bar("start")
        try:
            if r["tune"]:
                outcome = self.client.models.tune(r["examples"], r["target"], r["model"], method=r["tune"],
                                                  trials=r["trials"], **common)
            else:
                outcome = self.client.models.train(r["examples"], r["target"], r["model"], **common)
        except MlplatError as exc:
            self._bar("failed")
            self.message.value = _error(exc.message)
            return None
        finally:
            self.train_button.disabled = False
            self.register_button.disabled = self.outcome is None
        self._bar("done")
        self.result.value = TrainCard(outcome)._repr_html_()
        return outcome

    def train(self) -> Any:
        """Train what the widgets say; the card shows metrics and plots. Returns the outcome (None on an error)."""
        chosen = list(self.features.value)
        request = {
            "examples": self.examples.value, "target": self.target.value, "model": self.model.value,
            "features": chosen, "session_features": [c for c in chosen if c in self._session_columns],
            "tune": None if self.tuning.value in (NO_TUNING, None) else self.tuning.value,
            "trials": int(self.trials.value),
        }
        if not request["examples"]:
            self.message.value = _error("pick an example set")
            return None
        outcome = self._run(request)
        if outcome is not None:
            self.outcome, self.request, self.registered = outcome, request, None
            self.register_button.disabled = False
            self.message.value = f"trained {html.escape(outcome.kind)}: register it to keep it"
        return outcome

    def register(self) -> Any:
        """Register what Train trained, as ``Name`` for ``Team``. Returns the registered outcome (None on an error)."""
        name = self.name.value.strip()
        if self.outcome is None or self.request is None:
            self.message.value = _error("train a model first")
            return None
        if not name:
            self.message.value = _error("give the model a name")
            return None
        extra: dict[str, Any] = {"register": name, "team": self.team.value.strip() or None}
        if self.outcome.tuning:
            extra["study"] = self.outcome.tuning["study_name"]  # resumes the finished search: no new trials
        outcome = self._run(self.request, **extra)
        if outcome is None:
            return None
        self.registered = outcome
        self.deploy_button.disabled = False
        note = ""
        if outcome.metrics != self.outcome.metrics:
            changed = ", ".join(f"{k} {fmt(self.outcome.metrics.get(k))} -> {fmt(v)}"
                                for k, v in outcome.metrics.items() if v != self.outcome.metrics.get(k))
            note = f"; retraining for the registry moved the metrics: {changed}"
        self.message.value = html.escape(f"registered {outcome.model} v{outcome.version} "
                                         f"({', '.join(outcome.aliases) or 'no alias'}, team {outcome.team}){note}")
        return outcome

    def deploy(self) -> Any:
        """Deploy the registered version; its checks replace the card. The deployment (None on an error)."""
        from mlplat_magics.serving import DeploymentCard

        if self.registered is None:
            self.message.value = _error("register the model first")
            return None
        self.deploy_button.disabled = True
        self._bar("start")
        try:
            info = self.client.serving.deploy(self.registered.model, self.registered.version, progress=self._say)
        except MlplatError as exc:  # a refusal names the check that failed
            self._bar("failed")
            self.message.value = _error(exc.message)
            return None
        finally:
            self.deploy_button.disabled = False
        self.deployed = info
        self._bar("done")
        self.result.value = DeploymentCard(info)._repr_html_()
        self.message.value = html.escape(info.message)
        return info

