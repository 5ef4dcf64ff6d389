"""``%train``, ``%tune``, ``%automl`` and ``%model ...``: Managed Models in a notebook."""

from __future__ import annotations

import json
from typing import Any, Callable

from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from mlplat.pairs import parse_pairs
from mlplat_magics.base import ClientMagics, MagicError, parse, run
from mlplat_magics.display import Table, Text
from mlplat_magics.features import _csv
from mlplat_magics.model_cards import ModelCard, TrainCard, compare_table, models_table
from mlplat_magics.progress import progress_bar

# Options %train and %tune share, in the order their help lists them.
TRAINING_ARGUMENTS = (
    argument("--examples", required=True, help="example set (name or name:vN)"),
    argument("--target", help="the column to predict (leave out for kmeans)"),
    argument("--model", default="xgboost", help="a catalog model (%%model catalog); default xgboost"),
    argument("--features", help="input columns, comma-separated (default: every feature column)"),
    argument("--session-features", help="inputs the caller sends with each request, comma-separated"),
    argument("--param", action="append", help="KEY=VALUE model parameter; repeatable"),
    argument("--task", choices=["classification", "regression", "clustering"]),
    argument("--split", choices=["random", "time"]),
    argument("--test-size", type=float, help="share of rows held out (default 0.2)"),
    argument("--seed", type=int),
    argument("--transformer", help="a saved transformer id (default: fit one for the model)"),
)
REGISTER_ARGUMENTS = (
    argument("--register", metavar="NAME", help="store the pipeline in the Model Repository as NAME"),
    argument("--team", help="owner team of a new model (default: the example set's team)"),
    argument("--contact", help="who to ask about the model"),
    argument("--description"),
    argument("--alias", help="alias the new version gets (default: candidate)"),
)
TRAINING = ("features", "session_features", "param", "task", "split", "test_size", "seed", "transformer")
REGISTER = ("register", "team", "contact", "description", "alias")


def _with(arguments: tuple[Callable[[Any], Any], ...]) -> Callable[[Any], Any]:
    def decorate(fn: Any) -> Any:
        for add in reversed(arguments):
            fn = add(fn)
        return fn

    return decorate


def _options(args: Any, names: tuple[str, ...]) -> dict[str, Any]:
    """The given options among ``names`` as keyword arguments of the client (left-out ones take its defaults)."""
    found = {name: getattr(args, name) for name in names}
    if "features" in found:
        found["features"] = _csv(found["features"])
    if "session_features" in found:
        found["session_features"] = _csv(found["session_features"])
    if "param" in found:
        found["params"] = parse_pairs(found.pop("param"), "--param") or None
    return {k: v for k, v in found.items() if v is not None}


def _help_or_run(fn: Any, line: str) -> Any:
    if line.strip() in ("-h", "--help", "help"):
        print(fn.parser.format_help())
        return None
    return run(fn, line)



def version_experiments(client: Any, version: Any) -> list[list[Any]]:
    """The experiments whose arms serve this version (by number or through one of its aliases)."""
    from mlplat.errors import MlplatError
    from mlplat.experiments.spec import ModelRef

    try:
        found = client.experiments.list(model=version.name)
    except MlplatError:  # the card still shows the model when experiments cannot be read
        return []
    rows = []
    for e in found:
        for arm in e.arms:
            ref = ModelRef.parse(arm["model"])
            if ref.version == version.version or (ref.alias is not None and ref.alias in version.aliases):
                rows.append([e.name, arm["name"], e.status, e.phase, e.team])
    return rows


@magics_class
class ModelMagics(ClientMagics):
    NAME = "model"
    SUBCOMMANDS = {"list": "_list", "show": "_show", "compare": "_compare", "promote": "_promote",
                   "catalog": "_catalog", "builder": "_builder"}

    # -- %train, %tune, %automl ----------------------------------------------------
    @magic_arguments("train")
    @_with(TRAINING_ARGUMENTS + REGISTER_ARGUMENTS)
    def _train(self, line: str) -> TrainCard:
        """Train a Model Pipeline on an example set; --register NAME stores it in the Model Repository."""
        args = parse(self._train, line)
        options = _options(args, TRAINING + REGISTER)
        with progress_bar(f"train {args.model}") as bar:
            outcome = self.client.models.train(args.examples, args.target, args.model, progress=bar, **options)
        return TrainCard(outcome)

    @magic_arguments("tune")
    @_with(TRAINING_ARGUMENTS)
    @argument("--method", default="bayesian", choices=["bayesian", "grid"])
    @argument("--trials", type=int, default=20)
    @argument("--workers", type=int, default=1, help="local processes searching the same study")
    @argument("--space",
              help='JSON search space, e.g. \'{"max_depth": {"low": 2, "high": 6}}\' (default: the model\'s)')
    @argument("--study", help="study name (the same name resumes a search)")
    @_with(REGISTER_ARGUMENTS)
    def _tune(self, line: str) -> TrainCard:
        """Grid or Bayesian search; the best parameters are refit, evaluated and (with --register) registered."""
        args = parse(self._tune, line)
        try:
            space = json.loads(args.space) if args.space else None
        except ValueError as exc:
            raise MagicError(f"--space is not JSON: {exc}") from None
        options = _options(args, TRAINING + REGISTER + ("study",))
        with progress_bar(f"{args.method} search of {args.model}") as bar:
            outcome = self.client.models.tune(args.examples, args.target, args.model, method=args.method,
                                              trials=args.trials, workers=args.workers, space=space, progress=bar,
                                              **options)
        return TrainCard(outcome)

    @magic_arguments("automl")
    @argument("--examples", required=True, help="example set (name or name:vN)")
    @argument("--target", required=True)
    @argument("--budget", type=float, default=60.0, help="seconds for the whole search (default 60)")
    @argument("--models", help="catalog models to try, comma-separated (default: every one fitting the task)")
    @argument("--seed", type=int)
    @_with(REGISTER_ARGUMENTS)
    def _automl(self, line: str) -> TrainCard:
        """Feature selection, model selection and tuning within a time budget; the winner is (registered and) shown."""
        args = parse(self._automl, line)
        options = _options(args, ("seed",) + REGISTER)
        if args.models:
            options["models"] = _csv(args.models)
        with progress_bar(f"automl {args.target}") as bar:
            outcome = self.client.models.automl(args.examples, args.target, args.budget, progress=bar, **options)
        return TrainCard(outcome)

    @line_magic
    def train(self, line: str) -> Any:
        """Train a Model Pipeline: %train --examples E --target T --model M [--register NAME] (``%train -h``)."""
        return _help_or_run(self._train, line)

    @line_magic
    def tune(self, line: str) -> Any:
        """Tune a model: %tune --examples E --target T --model M --method grid|bayesian --trials N (``%tune -h``)."""
        return _help_or_run(self._tune, line)

    @line_magic
    def automl(self, line: str) -> Any:
        """AutoML: %automl --examples E --target T --budget SECONDS [--register NAME] (``%automl -h``)."""
        return _help_or_run(self._automl, line)

    # -- %model <command> ------------------------------------------------------------
    @magic_arguments()
    @argument("text", nargs="?", help="part of the name")
    @argument("--team")
    def _list(self, line: str) -> Table:
        """Registered models: owner, newest version, aliases, metrics."""
        args = parse(self._list, line)
        return models_table(self.client.models.list(args.text, team=args.team))

    @magic_arguments()
    @argument("name")
    @argument("--version", type=int)
    @argument("--alias")
    def _show(self, line: str) -> ModelCard:
        """A registered version: metadata, metrics, inputs, lineage and its evaluation plots."""
        args = parse(self._show, line)
        detail = self.client.models.show(args.name, version=args.version, alias=args.alias)
        return ModelCard(detail, self.client.models.report(args.name, detail.version.version),
                         version_experiments(self.client, detail.version))

    @magic_arguments()
    @argument("name")
    @argument("--versions", help="comma-separated (default: all)")
    def _compare(self, line: str) -> Table:
        """Versions of a model side by side, with their metrics."""
        args = parse(self._compare, line)
        try:
            versions = [int(v.lstrip("v")) for v in _csv(args.versions) or []] or None
        except ValueError:
            raise MagicError(f"--versions takes version numbers, comma-separated, not {args.versions!r}") from None
        return compare_table(args.name, self.client.models.compare(args.name, versions))

    @magic_arguments()
    @argument("name")
    @argument("--version", type=int, required=True)
    @argument("--alias", default="production")
    def _promote(self, line: str) -> Text:
        """Point an alias (default production) at a version; owner team only."""
        args = parse(self._promote, line)
        info = self.client.models.promote(args.name, args.version, args.alias)
        return Text(f"{info.name} v{info.version} is now {args.alias!r} (aliases: {', '.join(info.aliases)})")

    @magic_arguments()
    def _catalog(self, line: str) -> Table:
        """The models training can fit, their tasks and default parameters."""
        parse(self._catalog, line)
        return Table(["model", "tasks", "description", "defaults"],
                     [[k["name"], ", ".join(k["tasks"]), k["description"],
                       ", ".join(f"{p}={v}" for p, v in k["defaults"].items()) or "-"]
                      for k in self.client.models.catalog()])

    @magic_arguments()
    def _builder(self, line: str) -> Any:
        """A point-and-click model builder (widget): example set, target, features, model, tuning; train, register."""
        parse(self._builder, line)
        from mlplat_magics.builder import ModelBuilder

        return ModelBuilder(self.client)

    @line_magic
    def model(self, line: str) -> Any:
        """Model Repository: %model list | show | compare | promote | catalog | builder."""
        return self.dispatch(line)
