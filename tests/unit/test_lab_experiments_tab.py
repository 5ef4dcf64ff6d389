"""The JupyterLab Experiments tab reads the platform API's real answers: every field, route and body it uses exists.

The tab (lab_extension/src/tabs/experiments.ts) was first written before the Experiment Manager's routes and
guessed their answers; a field it reads that the answer lacks shows as a blank cell (or "NaN"), not an error.
So its interfaces are checked against the response schemas of the routes it calls and against results objects
the Experiment Manager computes from planted statistics (frequentist, sequential, Bayesian; a sample-ratio
mismatch), the fields it reads against its interfaces, and its routes and Stop body against the router's.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import pytest
from experiments_support import OWNER, definition, make_world, rows

from mlplat.experiments.analysis.frequentist import Comparison, FrequentistReport
from mlplat.experiments.analysis.sequential import Look, SequentialResult
from mlplat.experiments.analysis.srm import SRMResult
from mlplat.experiments.spec import ExperimentSpec
from mlplat.services.api.schemas.experiments import Experiment, ResultArm, Results

ROOT = Path(__file__).resolve().parents[2]
TAB = (ROOT / "lab_extension" / "src" / "tabs" / "experiments.ts").read_text()


def interface(name: str) -> set[str]:
    """The field names of a TypeScript interface in the tab."""
    found = re.search(r"export interface " + name + r" \{(.*?)\n\}", TAB, re.S)
    assert found, f"interface {name} not found in experiments.ts"
    return set(re.findall(r"^\s+(\w+)\??:", found.group(1), re.M))


def read_fields(var: str) -> set[str]:
    """The fields the tab reads from ``var`` (``e.status``, ``r.warning``, ...)."""
    return set(re.findall(r"\b" + var + r"\??\.(\w+)", TAB))


def fields(kind: type) -> set[str]:
    return {f.name for f in dataclasses.fields(kind)}


def test_the_list_reads_only_fields_of_the_experiment_answer() -> None:
    mine = interface("IExperiment")
    assert mine <= set(Experiment.model_fields), mine - set(Experiment.model_fields)
    for var in ("e", "stopped"):
        assert read_fields(var) <= mine, read_fields(var) - mine
    assert {"name", "team", "status", "phase", "started_at"} <= read_fields("e")


def test_the_results_interfaces_are_the_results_answer_and_its_analyses() -> None:
    assert interface("IResults") <= set(Results.model_fields), interface("IResults") - set(Results.model_fields)
    assert interface("IResultArm") <= set(ResultArm.model_fields)
    assert interface("ISrm") <= fields(SRMResult)
    assert interface("IFrequentist") <= fields(FrequentistReport)
    assert interface("ILift") <= fields(Comparison)  # a timeline point is checked on real results below
    assert interface("ISequential") <= fields(SequentialResult)
    assert interface("ILook") <= fields(Look)
    reads = {"r": "IResults", "a": "IResultArm", "found": "ILift", "seq": "ISequential", "x": "ILift"}
    for var, name in reads.items():
        assert read_fields(var) <= interface(name), (var, read_fields(var) - interface(name))
    # the SRM flag and its warning, the primary metric, each arm's lift with its interval
    assert {"trustworthy", "warning", "srm", "data", "primary_metric", "arms"} <= read_fields("r")
    assert {"rel_lift", "rel_lift_ci", "diff", "diff_ci"} <= read_fields("found")


@pytest.fixture
def world(tmp_path: Path) -> Any:
    found = make_world(tmp_path / "x.db")
    yield found
    found[0].store.db.dispose()


def _has(document: dict[str, Any], names: set[str], where: str) -> None:
    missing = names - set(document)
    assert not missing, f"{where} lacks {sorted(missing)}: {sorted(document)}"


def test_results_the_service_computes_hold_every_field_the_tab_reads(world: Any) -> None:
    service, _, stats, _ = world
    for name, analysis in (("freq", "frequentist"), ("seq", "sequential"), ("bayes", "bayesian")):
        service.create(OWNER, definition(name=name, analysis=analysis))
    empty = service.results(OWNER, "freq")  # before the outcomes job: no data, and no NaN
    Results.model_validate(empty)
    assert empty["data"] is False and empty["reason"].startswith("no data")
    stats.rows = [r for name in ("freq", "seq", "bayes") for r in rows(name, (0.10, 0.13), 1000, 4, seed=5)]
    for name in ("freq", "seq", "bayes"):
        result = service.results(OWNER, name)
        Results.model_validate(result)
        _has(result, interface("IResults"), f"{name}'s results")
        _has(result["srm"], interface("ISrm"), "srm")
        for arm in result["arms"]:
            _has(arm, interface("IResultArm"), "an arm")
        assert result["timeline"], name
        for point in result["timeline"]:
            _has(point, interface("ILift"), "a timeline point")
        assert any(p["metric"] == result["primary_metric"] and p["arm"] == result["arms"][1]["name"]
                   and p["rel_lift"] is not None for p in result["timeline"])
    freq = service.results(OWNER, "freq")["frequentist"]
    _has(freq, interface("IFrequentist"), "frequentist")
    for comparison in freq["comparisons"]:
        _has(comparison, interface("ILift"), "a comparison")
    for sequential in service.results(OWNER, "seq")["sequential"]:
        _has(sequential, interface("ISequential"), "a sequential result")
        assert sequential["difference"] in ("absolute", "relative")
        for look in sequential["looks"]:
            _has(look, interface("ILook"), "a look")


def test_a_mismatched_split_answers_the_flag_and_warning_the_tab_draws_first(world: Any) -> None:
    service, _, stats, _ = world
    service.create(OWNER, definition())
    stats.rows = [r if r["arm"] == "control" else {**r, "n": int(r["n"] * 0.9),
                                                   "sum": round(r["sum"] * 0.9), "sum_sq": round(r["sum"] * 0.9)}
                  for r in rows("button", (0.1, 0.1), 2000, 3, seed=2) if r["metric"] == "purchase"]
    result = service.results(OWNER, "button")
    assert result["trustworthy"] is False and result["srm"]["untrustworthy"] and result["warning"]
    # the warning is appended to the tab's body before its table
    assert TAB.index("mlplat-srm-") < TAB.index("'mlplat-experiments'")


def test_the_routes_and_the_stop_body_it_uses_exist() -> None:
    from mlplat.services.api import experiments as routes

    source = inspect.getsource(routes)
    assert re.findall(r"get(?:<\w+>)?\('(/v1/experiments[^']*)'", TAB) == ["/v1/experiments"]
    assert '@api.get("", response_model=list[Experiment]' in source
    called = re.findall(r"(get|post)(?:<\w+>)?\(`/v1/experiments/\$\{encodeURIComponent\([\w.]+\)\}(/\w+)`", TAB)
    assert sorted(called) == [("get", "/results"), ("post", "/stop")]
    assert '@api.get("/{name}/results", response_model=Results' in source
    assert '@api.post("/{name}/stop", response_model=Experiment' in source
    body = re.search(r"/stop`, \{ (\w+):", TAB)
    assert body and body.group(1) in routes.MoveRequest.model_fields
    assert "running" in TAB and "e.status === 'running'" in TAB  # Stop only on a running experiment


def test_the_models_tab_reads_an_experiments_arms_from_its_definition() -> None:
    models = (ROOT / "lab_extension" / "src" / "tabs" / "models.ts").read_text()
    assert "arms" not in Experiment.model_fields and "spec" in Experiment.model_fields
    assert "e.spec?.arms" in models and "e.arms" not in models
    assert set(ExperimentSpec.parse(definition()).to_dict()["arms"][0]) == {"name", "model"}
