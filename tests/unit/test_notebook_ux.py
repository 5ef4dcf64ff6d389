"""What a notebook user reads: one-line platform errors, panels that fit a 1400-pixel window and still show
something where widgets do not run, the Tuning choice, progress lines, and `schedule: none`."""

from __future__ import annotations

import re
from typing import Any

import pytest

from mlplat.errors import ValidationError
from mlplat.features.spec import FeatureSetSpec
from mlplat.identity import Identity

ALICE = Identity("alice", teams=("growth",))


def test_a_platform_error_raised_through_the_client_is_one_line_and_fails_the_cell(shell, capsys) -> None:
    capsys.readouterr()
    result = shell.run_cell("from mlplat.client import connect\n"
                            "from mlplat.identity import Identity\n"
                            "connect(user=Identity('bob', teams=('ads',))).seed_lake(users=10, days=1)")
    assert not result.success  # papermill stops on it
    assert type(result.error_in_exec).__name__ == "PermissionDenied"
    printed = capsys.readouterr()
    lines = [line for line in (printed.out + printed.err).splitlines() if line.strip()]
    assert lines == ["PermissionDenied: only an admin may seed the lake; bob is not an admin"], lines
    shell.run_line_magic("tb", "")  # the frames, for whoever asks
    shown = capsys.readouterr().out
    assert "Traceback" in shown and "seed_lake" in shown
    # other exceptions keep their traceback
    assert not shell.run_cell("1 / 0").success
    assert "Traceback" in capsys.readouterr().out


def test_unloading_the_magics_gives_the_errors_back_their_tracebacks(shell) -> None:
    from mlplat.errors import MlplatError

    assert shell.custom_exceptions == (MlplatError,)
    shell.run_line_magic("unload_ext", "mlplat_magics")
    assert shell.custom_exceptions == ()
    shell.run_line_magic("load_ext", "mlplat_magics")


@pytest.mark.parametrize("written", ["none", "None", "off", "OFF", "", None])
def test_none_or_off_removes_a_schedule(written: Any) -> None:
    spec = FeatureSetSpec.from_dict({"name": "s", "sql": "SELECT 1", "entity": ["user_id"], "timestamp": "ts",
                                     "team": "growth", "schedule": written})
    assert spec.schedule is None


def test_yaml_says_off_or_none_for_no_schedule() -> None:
    base = "name: s\nsql: SELECT 1\nentity: [user_id]\ntimestamp: ts\nteam: growth\n"
    for line in ("schedule: off", "schedule: none", "schedule: null", "schedule: no"):  # YAML reads off/no as false
        assert FeatureSetSpec.from_yaml(base + line).schedule is None, line
    assert FeatureSetSpec.from_yaml(base + "schedule: '@hourly'").schedule == "@hourly"
    with pytest.raises(ValidationError, match="or 'none' for no schedule"):
        FeatureSetSpec.from_yaml(base + "schedule: sometimes")
    with pytest.raises(ValidationError, match="not valid"):
        FeatureSetSpec.from_yaml(base + "schedule: yes")


def _walk(widget: Any) -> list[Any]:
    return [widget, *(x for child in getattr(widget, "children", ()) for x in _walk(child))]


def _px(value: str | None) -> int:
    match = re.fullmatch(r"(\d+)px", value or "")
    return int(match.group(1)) if match else 0


def assert_fits(widget: Any, *panes: Any, window: int = 1400) -> None:
    """Rows wrap, the panes (cards, tables) shrink to the output's width, and no fixed width needs more than
    the window leaves.

    JupyterLab's output area in a 1400-pixel window is about 1000 pixels wide once the side bar is open.
    """
    import ipywidgets as w

    assert widget.layout.max_width == "100%"
    for part in _walk(widget):
        if isinstance(part, w.HBox):
            assert "wrap" in (part.layout.flex_flow or ""), part
            fixed = sum(_px(c.layout.width) or _px(c.layout.min_width) for c in part.children)
            assert fixed <= window - 400, (part, fixed)
        assert _px(part.layout.width) <= window - 400 and _px(part.layout.min_width) <= window - 400, part
    for pane in panes:
        assert pane in _walk(widget) and pane.layout.max_width == "100%", pane


def test_the_feature_browser_and_jobs_panel_fit_and_show_a_picture(shell) -> None:
    from mlplat.client import connect
    from mlplat_magics.widgets import FeatureBrowser, JobsPanel

    browser = shell.run_cell("%feature browse").result
    assert isinstance(browser, FeatureBrowser)
    browser.detail.value = "<table><tr><td>" + "x" * 500 + "</td></tr></table>"
    assert_fits(browser.widget, browser.detail)
    assert browser.detail.layout.flex.startswith("1 1") and browser.detail.layout.overflow == "auto"
    bundle = browser._repr_mimebundle_()
    assert set(bundle) == {"application/vnd.jupyter.widget-view+json", "text/html", "text/plain"}
    assert bundle["text/plain"].startswith("feature browser") and "Search" in bundle["text/html"]
    panel = JobsPanel(connect(user=ALICE))
    panel.runs.value = "<table></table>"
    assert_fits(panel.widget, panel.runs)


def test_the_builder_shows_no_tuning_as_none_and_fits(shell) -> None:
    builder = shell.run_cell("%model builder").result
    assert builder.tuning.label == "none" and builder.tuning.value == "none"
    assert "<option selected>none</option>" in builder._repr_mimebundle_()["text/html"]
    assert builder.progress.layout.visibility == "hidden"  # no bar before anything ran
    builder.result.value = "<p>card</p>"
    assert_fits(builder.widget, builder.result)


def test_the_cards_figures_scale_to_the_output_width() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mlplat_magics.display import Table, png_html

    fig, _ = plt.subplots(figsize=(14, 3))  # wider than a 1400-pixel window's output area at 90 dpi
    assert "style='max-width:100%;height:auto'" in png_html(fig)
    assert "max-width:100%" in Table(["path"], [["/very/long/" * 30]])._repr_html_()


def test_training_in_a_notebook_keeps_its_inline_plots(tmp_path) -> None:
    """Registering a model saves its evaluation plots in the kernel's process (in-process client): that must not
    switch the notebook's pyplot backend, or the cells after it show no figure."""
    import matplotlib.pyplot as plt

    from mlplat.models.evaluate import EvaluationReport

    inline = "module://matplotlib_inline.backend_inline"
    before = plt.get_backend()
    plt.switch_backend(inline)
    try:
        report = EvaluationReport("classification", {"auc": 0.7}, 10, "time",
                                  {"roc": {"fpr": [0.0, 0.5, 1.0], "tpr": [0.0, 0.7, 1.0]}})
        assert report.save_plots(str(tmp_path)) == [str(tmp_path / "evaluation.png")]
        assert plt.get_backend() == inline and (tmp_path / "evaluation.png").stat().st_size > 0
        from mlplat_magics.experiment_plots import png, posteriors  # an experiment's plots: the same rule

        drawn = posteriors({"bayesian": [{"model": "beta_binomial", "metric": "conversion", "arms": [
            {"name": "a", "mean": 0.1, "posterior": [11, 91]}, {"name": "b", "mean": 0.12, "posterior": [13, 89]}]}]})
        assert png(drawn).startswith("<img src='data:image/png;base64,")
        assert plt.get_backend() == inline
    finally:
        plt.switch_backend(before)


def test_progress_outside_a_kernel_is_a_line_that_ends_full_or_goes(capsys) -> None:
    from mlplat_magics.progress import progress_bar

    with progress_bar("train") as bar:
        bar("fitting", 0.4)
    assert capsys.readouterr().err.endswith("\r\x1b[2Ktrain: 100% fitting\n")
    with pytest.raises(RuntimeError):
        with progress_bar("deploy") as bar:
            bar("checks", 0.5)
            raise RuntimeError("refused")
    assert capsys.readouterr().err.endswith("\r\x1b[2K")  # erased: the error is read on its own
