"""What the model magics and the model builder show: a trained pipeline's card, its search, a registered version.

Each card keeps the result it shows and hands attribute reads through to it,
so ``r = %train ...`` gives ``r.metrics``, ``r.pipeline``, ``r.version`` as the
client's ``TrainOutcome`` does (``r.result`` is the object itself).
"""

from __future__ import annotations

import html
from typing import Any

from mlplat_magics.display import Table, png_html


def fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _params(params: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={fmt(v)}" for k, v in (params or {}).items()) or "defaults"


class Card:
    """An HTML view of a result; attribute reads fall through to the result."""

    def __init__(self, result: Any) -> None:
        self.result = result
        self._html: str | None = None

    def __getattr__(self, name: str) -> Any:
        # IPython probes objects for _repr_*_ and _ipython_*_ hooks: those are never the result's.
        if name.startswith("_") or name == "result":
            raise AttributeError(name)
        return getattr(self.result, name)

    def _repr_html_(self) -> str:
        if self._html is None:  # the figures are drawn once, however often the card is shown
            self._html = self.render()
        return self._html

    def render(self) -> str:
        raise NotImplementedError


class TrainCard(Card):
    """``%train`` / ``%tune`` / ``%automl`` and the builder: metrics, plots, the search, the registered version."""

    def headline(self) -> str:
        o = self.result
        config = o.config or {}
        line = (f"{o.kind} {o.task} on {o.examples}: {o.rows_train} train rows, {o.rows_test} held out "
                f"({config.get('split', 'random')} split), {o.seconds:.1f}s")
        if o.model and o.version:
            return f"{line}; registered {o.model} v{o.version} ({', '.join(o.aliases) or 'no alias'}, team {o.team})"
        return f"{line}; not registered (--register NAME stores it in the Model Repository)"

    def render(self) -> str:
        o = self.result
        parts = [f"<p><b>{html.escape(self.headline())}</b></p>"]
        if o.automl:
            parts.append(automl_html(o.automl))
        if o.tuning:
            parts.append(tuning_html(o.tuning))
        parts.append(Table(["metric", "value"], [[k, fmt(v)] for k, v in o.metrics.items()],
                           title="metrics on the held-out rows")._repr_html_())
        evaluation = o.evaluation()
        if evaluation.plots():
            parts.append(png_html(evaluation.figure()))
        return "".join(parts)

    def __repr__(self) -> str:
        metrics = ", ".join(f"{k} {fmt(v)}" for k, v in self.result.metrics.items())
        return f"{self.headline()}\n{metrics}"


def tuning_html(tuning: dict[str, Any]) -> str:
    done = [t for t in tuning["trials"] if t["state"] == "COMPLETE"]
    summary = Table(
        ["search", "study", "trials finished", "best validation " + tuning["metric"], "best parameters", "seconds"],
        [[tuning["method"], tuning["study_name"], len(done), fmt(tuning.get("best_value")),
          _params(tuning.get("best_params")), fmt(tuning.get("seconds"))]],
        title=f"{tuning['method']} search of {tuning['model']}",
    )
    notes = "".join(f"<p><i>{html.escape(n)}</i></p>" for n in tuning.get("notes") or [])
    return summary._repr_html_() + notes + (png_html(trials_figure(tuning)) if done else "")


def trials_figure(tuning: dict[str, Any]) -> Any:
    """Each trial's validation value and the best so far, drawn by the core's own search result."""
    from mlplat.models.tuning import TuneResult

    best = tuning.get("best_value")
    search = TuneResult(  # the figure reads only the trials and the search's labels, not the refit result
        tuning["study_name"], tuning["method"], tuning["model"], tuning["metric"], tuning["direction"],
        dict(tuning.get("best_params") or {}), float("nan") if best is None else float(best),
        list(tuning["trials"]), result=None,  # type: ignore[arg-type]
    )
    return search.trials_figure()


def automl_html(automl: dict[str, Any]) -> str:
    metric = automl["metric"]
    board = Table(
        ["rank", "model", f"validation {metric}", f"holdout {metric}", "trials", "seconds", "parameters"],
        [[i + 1, e["model"], fmt(e["validation"].get(metric)), fmt((e.get("holdout") or {}).get(metric)), e["trials"],
          fmt(e["seconds"]), _params(e.get("params"))] for i, e in enumerate(automl["leaderboard"])],
        title=f"AutoML leaderboard ({automl['seconds']:.1f}s of a {automl['budget']:g}s budget)",
    )
    c = automl["comparison"]
    versus = Table(["on the holdout", metric],
                   [["default XGBoost baseline", fmt(c["baseline"])], [f"winner: {automl['leaderboard'][0]['model']}",
                                                                      fmt(c["winner"])], ["gain", fmt(c["gain"])]],
                   title="baseline vs winner")
    features = automl.get("features") or {}
    dropped = Table(["dropped feature", "reason"], [[d["column"], d["reason"]] for d in features.get("dropped") or []],
                    title=f"{len(features.get('selected') or [])} feature(s) kept")
    skipped = "".join(f"<p><i>skipped {html.escape(s['model'])}: {html.escape(s['reason'])}</i></p>"
                      for s in automl.get("skipped") or [])
    return board._repr_html_() + png_html(leaderboard_figure(automl)) + versus._repr_html_() + dropped._repr_html_() \
        + skipped


def leaderboard_figure(automl: dict[str, Any]) -> Any:
    import matplotlib.pyplot as plt

    metric, board, c = automl["metric"], automl["leaderboard"], automl["comparison"]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3))
    names = [e["model"] for e in board][::-1]
    ax1.barh(names, [e["validation"].get(metric) or 0.0 for e in board][::-1])
    ax1.set(title=f"validation {metric} by model", xlabel=metric)
    ax2.bar(["baseline", "winner"], [c["baseline"] or 0.0, c["winner"] or 0.0], color=["grey", "C0"])
    ax2.set(title=f"holdout {metric}", ylabel=metric)
    fig.tight_layout()
    return fig


class ModelCard(Card):
    """``%model show``: a registered version's fields, metrics, inputs, lineage and evaluation plots."""

    def __init__(self, detail: Any, report: Any = None, experiments: list[list[Any]] | None = None) -> None:
        super().__init__(detail)
        self.report = report
        self.experiments = experiments or []  # [experiment, arm, status, phase, team] serving this version

    def render(self) -> str:
        d = self.result
        v, meta = d.version, d.metadata
        fields = Table(["field", "value"], [
            ["version", f"v{v.version} (versions: {', '.join(map(str, d.versions))})"],
            ["aliases", ", ".join(v.aliases) or "-"], ["team / contact", f"{v.team} / {meta.get('contact', '')}"],
            ["task / kind", f"{v.task} / {v.kind}"], ["target", v.target or "-"], ["description", v.description],
            ["example set", v.example_set], ["label set", meta.get("label_set", "-")],
            ["feature sets", ", ".join(meta.get("feature_sets") or []) or "-"],
            ["transformer", v.transformer or "-"], ["created", f"{v.created_at} by {v.created_by}"],
            ["Online Serving", (meta.get("online_serving") or {}).get("endpoint", "-")], ["run", v.run_id],
        ], title=f"{v.name} v{v.version}")
        metrics = Table(["metric", "value"], [[k, fmt(x)] for k, x in v.metrics.items()], title="metrics")
        inputs = Table(["input", "type", "source", "required"],
                       [[f["name"], f["type"], f["source"], f.get("required", False)]
                        for f in (meta.get("inputs") or {}).get("fields", [])], title="inputs")
        parts = [fields._repr_html_(), metrics._repr_html_(), inputs._repr_html_()]
        if self.experiments:
            parts.append(Table(["experiment", "arm", "status", "phase", "team"], self.experiments,
                               title="experiments serving this version")._repr_html_())
        if self.report is not None and self.report.plots():
            parts.append(png_html(self.report.figure()))
        return "".join(parts)

    def __repr__(self) -> str:
        v = self.result.version
        return f"{v.name} v{v.version} ({v.kind} {v.task}, team {v.team}, aliases: {', '.join(v.aliases) or '-'})"


def compare_table(name: str, versions: list[Any]) -> Table:
    """Versions side by side: aliases, kind, example set and every metric any of them has."""
    keys = list(dict.fromkeys(k for v in versions for k in v.metrics))
    return Table(["version", "aliases", "kind", "example set", "created", *keys],
                 [[v.version, ", ".join(v.aliases) or "-", v.kind, v.example_set, v.created_at[:19],
                   *[fmt(v.metrics.get(k)) for k in keys]] for v in versions],
                 title=f"{name}: {len(versions)} version(s)")


def models_table(models: list[Any]) -> Table:
    return Table(["name", "team", "latest", "versions", "aliases", "task", "kind", "metrics", "updated"],
                 [[m.name, m.team, m.latest_version, m.versions,
                   ", ".join(f"{a}=v{n}" for a, n in sorted(m.aliases.items())) or "-", m.task, m.kind,
                   ", ".join(f"{k} {fmt(x)}" for k, x in list(m.metrics.items())[:3]), m.updated_at[:19]]
                  for m in models], title=f"{len(models)} model(s)")


__all__ = ["Card", "ModelCard", "TrainCard", "compare_table", "models_table"]
