"""``%monitor response`` and the dashboards' plots of model metrics: AUC by version and calibration per version."""

from __future__ import annotations

import numpy as np
from test_model_metrics_bins import bin_rows

from mlplat.monitoring.model_metrics import model_metrics, no_scores
from mlplat.monitoring.records import ResponseView
from mlplat_magics.monitoring import response_figure, response_table


def test_auc_bars_and_calibration_curves_per_version_and_no_data_says_why() -> None:
    import matplotlib

    matplotlib.use("agg")
    rng = np.random.default_rng(2)
    rows = []
    for version, sharp in ((1, 1.0), (2, 3.0)):
        scores = rng.integers(1, 1024, 3000) / 1024
        labels = (rng.random(scores.size) < scores ** sharp).astype(float)
        rows += bin_rows(scores, labels, version=version)
    figures = model_metrics(rows)
    versions = [{"metric": "bought", "version": v, "units": 3000, "mean": 0.5, "model_metrics": figures[("bought", v)]}
                for v in (1, 2)]
    versions.append({"metric": "bought", "version": 3, "units": 10, "mean": 0.1,
                     "model_metrics": no_scores("no scored predictions")})
    versions.append({"metric": "spend", "version": 1, "units": 3000, "mean": 4.0, "model_metrics": None})
    view = ResponseView("m", "ok", versions, None)
    fig = response_figure(view)
    bars, curve = fig.axes
    assert [round(p.get_height(), 6) for p in bars.patches] == [round(figures[("bought", v)]["auc"], 6) for v in (1, 2)]
    assert [t.get_text() for t in bars.get_xticklabels()] == ["v1", "v2"]  # v3 has no figures: not plotted
    lines = [ln for ln in curve.get_lines() if ln.get_label().startswith("bought")]
    assert [ln.get_label() for ln in lines] == ["bought v1", "bought v2"] and len(lines[0].get_xdata()) == 10
    table = response_table(view)
    assert table.rows[2][-1] == "no scored predictions" and table.rows[3][-1] == "-"
    assert response_figure(ResponseView("m", "ok", versions[2:], None)) is None
