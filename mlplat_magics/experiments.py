"""``%experiment``: the Experiment Manager in a notebook (create, list, show, start, stop, results, panel)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from mlplat_magics.base import ClientMagics, MagicError, parse
from mlplat_magics.display import Table
from mlplat_magics.experiment_panel import ExperimentPanel, figures_html, header_html

LIST_COLUMNS = ["name", "team", "status", "phase", "analysis", "arms", "weights", "primary metric"]


def experiments_table(found: list[Any], title: str = "experiments") -> Table:
    return Table(LIST_COLUMNS, [[e.name, e.team, e.status, e.phase, e.spec["analysis"],
                                 ", ".join(f"{a['name']}={a['model']}" for a in e.arms),
                                 " / ".join(f"{w:.2f}" for w in e.weights), e.spec["primary_metric"]]
                                for e in found], title=title)


class ResultsView:
    """What ``%experiment results`` returns: the SRM flag first, then the figures and plots (text: the JSON)."""

    def __init__(self, experiment: Any, results: dict[str, Any]) -> None:
        self.experiment = experiment
        self.results = results

    def _repr_html_(self) -> str:
        return header_html(self.experiment, self.results) + figures_html(self.results)

    def __repr__(self) -> str:
        warning = f"WARNING: {self.results['warning']}\n" if self.results.get("warning") else ""
        return warning + json.dumps(self.results, indent=1)[:4000]


@magics_class
class ExperimentMagics(ClientMagics):
    NAME = "experiment"
    SUBCOMMANDS = {"create": "_create", "list": "_list", "show": "_show", "start": "_start", "stop": "_stop",
                   "conclude": "_conclude", "results": "_results", "panel": "_panel"}

    @magic_arguments()
    @argument("name", nargs="?")
    @argument("--file", help="a JSON (or YAML) definition; the options below override its fields")
    @argument("--team")
    @argument("--arm", action="append", help="NAME=MODEL_REF, control first (m, m@alias, m/3); repeatable")
    @argument("--weights", help="comma-separated, one per arm (default: even)")
    @argument("--metric", help="the primary metric")
    @argument("--guardrail", action="append", help="a guardrail metric; repeatable")
    @argument("--analysis", choices=["frequentist", "sequential", "bayesian", "bandit"])
    @argument("--coverage", type=float)
    @argument("--hypothesis")
    def _create(self, line: str) -> Table:
        """Define an experiment between Model Pipelines (in draft until started)."""
        args = parse(self._create, line)
        definition: dict[str, Any] = {}
        if args.file:
            text = Path(args.file).read_text()
            if args.file.endswith((".yaml", ".yml")):
                import yaml

                definition = yaml.safe_load(text)
            else:
                definition = json.loads(text)
        given = {"name": args.name, "team": args.team, "arms": args.arm, "primary_metric": args.metric,
                 "guardrail_metrics": args.guardrail, "analysis": args.analysis, "coverage": args.coverage,
                 "hypothesis": args.hypothesis,
                 "weights": [float(x) for x in args.weights.split(",")] if args.weights else None}
        definition.update({k: v for k, v in given.items() if v is not None})
        if not definition.get("team"):
            teams = self.client.whoami().teams
            if len(teams) != 1:
                raise MagicError(f"say which team owns the experiment with --team (you are in: "
                                 f"{', '.join(teams) or 'no team'})")
            definition["team"] = teams[0]
        return experiments_table([self.client.experiments.create(definition)], title="created (draft)")

    @magic_arguments()
    @argument("--status", choices=["draft", "running", "stopped", "concluded"])
    @argument("--team")
    @argument("--model", help="only experiments with an arm serving this model")
    def _list(self, line: str) -> Table:
        """Experiments with their status and split."""
        args = parse(self._list, line)
        return experiments_table(self.client.experiments.list(status=args.status, team=args.team, model=args.model))

    @magic_arguments()
    @argument("name")
    def _show(self, line: str) -> Table:
        """An experiment's history: who changed what, when and why (and its phases)."""
        e = self.client.experiments.show(parse(self._show, line).name)
        rows = [[h.at[:19], h.by, h.from_status or "-", h.to_status, h.phase, h.reason] for h in e.history]
        return Table(["at", "by", "from", "to", "phase", "reason"], rows,
                     title=f"{e.name}: {e.status}, phase {e.phase}, arms "
                           + ", ".join(f"{a['name']}={a['model']} ({w:.2f})" for a, w in zip(e.arms, e.weights)))

    @magic_arguments()
    @argument("name")
    @argument("--reason", default="")
    def _start(self, line: str) -> Table:
        """Begin assigning traffic."""
        args = parse(self._start, line)
        return experiments_table([self.client.experiments.start(args.name, reason=args.reason)], title="started")

    @magic_arguments()
    @argument("name")
    @argument("--reason", default="")
    def _stop(self, line: str) -> Table:
        """Send everyone to control now (every inference worker within seconds)."""
        args = parse(self._stop, line)
        return experiments_table([self.client.experiments.stop(args.name, reason=args.reason)], title="stopped")

    @magic_arguments()
    @argument("name")
    @argument("--winner")
    @argument("--reason", default="")
    def _conclude(self, line: str) -> Table:
        """Record the decision; the experiment serves control and frees its layer slice."""
        args = parse(self._conclude, line)
        done = self.client.experiments.conclude(args.name, winner=args.winner, reason=args.reason)
        return experiments_table([done], title="concluded")

    @magic_arguments()
    @argument("name")
    @argument("--phase", type=int)
    @argument("--json", action="store_true", help="return the results object (a dict)")
    def _results(self, line: str) -> Any:
        """Sample-ratio check first, then the analysis, with plots of lift over time and posteriors."""
        args = parse(self._results, line)
        found = self.client.experiments.results(args.name, phase=args.phase)
        if args.json:
            return found
        return ResultsView(self.client.experiments.show(args.name), found)

    @magic_arguments()
    @argument("name")
    def _panel(self, line: str) -> ExperimentPanel:
        """The experiment panel: status, arms, SRM, lift over time, posteriors, bandit weights, Stop."""
        return ExperimentPanel(self.client, parse(self._panel, line).name)

    @line_magic
    def experiment(self, line: str) -> Any:
        """Experiments: %experiment create|list|show|start|stop|conclude|results|panel (``%experiment help``)."""
        return self.dispatch(line)


__all__ = ["ExperimentMagics", "ResultsView", "experiments_table"]
