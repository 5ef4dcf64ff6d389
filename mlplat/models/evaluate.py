"""Metrics of each task on a held-out split, and the evaluation report with its plots.

The report is data (JSON: metrics plus downsampled curves), so it travels over
HTTP and into the Model Repository; ``figure()`` draws it with matplotlib
wherever it is shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from mlplat.models.catalog import CLASSIFICATION, CLUSTERING, REGRESSION

CURVE_POINTS = 200
SILHOUETTE_SAMPLE = 5000
CALIBRATION_BINS = 10


def classification_metrics(y: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """y: class indices; proba: P(class 1) for two classes, else the class-probability matrix."""
    from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score

    if proba.ndim == 1:
        p = np.clip(proba, 1e-15, 1 - 1e-15)
        both = len(np.unique(y)) == 2
        return {
            "auc": float(roc_auc_score(y, p)) if both else float("nan"),
            "log_loss": float(log_loss(y, p, labels=[0, 1])),
            "accuracy": float(accuracy_score(y, (p >= 0.5).astype(int))),
            "brier": float(brier_score_loss(y, p)),
            "calibration_error": float(expected_calibration_error(y, p)),
            "positive_rate": float(np.mean(y)),
        }
    labels = list(range(proba.shape[1]))
    out = {
        "log_loss": float(log_loss(y, np.clip(proba, 1e-15, 1), labels=labels)),
        "accuracy": float(accuracy_score(y, proba.argmax(axis=1))),
    }
    try:
        out["auc"] = float(roc_auc_score(y, proba, multi_class="ovr", labels=labels))
    except ValueError:  # a class absent from the holdout
        out["auc"] = float("nan")
    return out


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(float(y[mask].mean()) - float(p[mask].mean()))
    return total / max(len(y), 1)


def regression_metrics(y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    return {
        "rmse": float(np.sqrt(mean_squared_error(y, pred))),
        "mae": float(mean_absolute_error(y, pred)),
        "r2": float(r2_score(y, pred)) if len(y) > 1 else float("nan"),
    }


def clustering_metrics(x: np.ndarray, clusters: np.ndarray, model: Any, seed: int = 0) -> dict[str, float]:
    from sklearn.metrics import silhouette_score

    x = np.nan_to_num(x)
    distinct = len(np.unique(clusters))
    if 1 < distinct < len(x):
        sample = min(SILHOUETTE_SAMPLE, len(x))
        silhouette = float(silhouette_score(x, clusters, sample_size=sample, random_state=seed))
    else:
        silhouette = float("nan")
    centers = getattr(model, "cluster_centers_", None)
    inertia = float(((x - centers[clusters]) ** 2).sum()) if centers is not None else float("nan")
    return {"silhouette": silhouette, "inertia": inertia, "clusters": float(distinct)}


def task_metrics(task: str, y: np.ndarray | None, raw: np.ndarray, x: np.ndarray, model: Any) -> dict[str, float]:
    if task == CLASSIFICATION:
        return classification_metrics(np.asarray(y), raw)
    if task == REGRESSION:
        return regression_metrics(np.asarray(y, dtype=float), raw)
    return clustering_metrics(x, raw, model)


@dataclass
class EvaluationReport:
    """Metrics on the holdout and the data behind the plots."""

    task: str
    metrics: dict[str, float]
    rows: int
    split: str
    curves: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "metrics": _finite(self.metrics), "rows": self.rows, "split": self.split,
                "curves": self.curves}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "EvaluationReport":
        metrics = {k: (float("nan") if v is None else v) for k, v in data["metrics"].items()}
        return cls(data["task"], metrics, data["rows"], data["split"], data.get("curves") or {})

    def plots(self) -> list[str]:
        return [k for k in ("roc", "pr", "calibration", "loss", "importance", "residuals", "cluster_sizes")
                if k in self.curves]

    def figure(self) -> Any:
        """One matplotlib figure with a panel per plot."""
        import matplotlib.pyplot as plt

        return self._draw(plt.figure(figsize=self._size()))

    def _size(self) -> tuple[float, float]:
        return 4.2 * max(len(self.plots()), 1), 3.6

    def _draw(self, fig: Any) -> Any:
        names = self.plots()
        axes = fig.subplots(1, max(len(names), 1), squeeze=False)
        for ax, name in zip(axes[0], names):
            getattr(self, f"_plot_{name}")(ax, self.curves[name])
        title = ", ".join(f"{k} {v:.4g}" for k, v in self.metrics.items() if isinstance(v, float) and v == v)
        fig.suptitle(f"{self.task} on {self.rows} held-out rows ({self.split} split): {title}", fontsize=9)
        fig.tight_layout()
        return fig

    def save_plots(self, directory: str) -> list[str]:
        """evaluation.png in ``directory`` (the Model Repository stores it with the run)."""
        import os

        # A bare Figure, not pyplot: no GUI backend in a service's threads, and a notebook that trains in process
        # keeps its inline backend (switching pyplot to Agg here stopped the kernel's later plots from showing).
        from matplotlib.figure import Figure

        if not self.plots():
            return []
        fig = self._draw(Figure(figsize=self._size()))
        path = os.path.join(directory, "evaluation.png")
        fig.savefig(path, dpi=90)
        return [path]

    @staticmethod
    def _plot_roc(ax: Any, c: dict[str, Any]) -> None:
        ax.plot(c["fpr"], c["tpr"], lw=1.5)
        ax.plot([0, 1], [0, 1], ls="--", c="grey", lw=0.8)
        ax.set(title="ROC", xlabel="false positive rate", ylabel="true positive rate")

    @staticmethod
    def _plot_pr(ax: Any, c: dict[str, Any]) -> None:
        ax.plot(c["recall"], c["precision"], lw=1.5)
        ax.set(title="precision-recall", xlabel="recall", ylabel="precision")

    @staticmethod
    def _plot_calibration(ax: Any, c: dict[str, Any]) -> None:
        ax.plot(c["predicted"], c["observed"], marker="o", lw=1.2)
        top = max(c["predicted"] + c["observed"] + [0.01])
        ax.plot([0, top], [0, top], ls="--", c="grey", lw=0.8)
        ax.set(title="calibration", xlabel="mean predicted", ylabel="observed rate")

    @staticmethod
    def _plot_loss(ax: Any, c: dict[str, Any]) -> None:
        ax.plot(c["epoch"], c["train_loss"], marker=".", lw=1.2, label="train")
        ax.plot(c["epoch"], c["val_loss"], marker=".", lw=1.2, label="validation")
        if c.get("best_epoch"):
            ax.axvline(c["best_epoch"], c="grey", ls="--", lw=0.8, label="kept")
        ax.legend(fontsize=7)
        ax.set(title="loss by epoch", xlabel="epoch", ylabel="loss")

    @staticmethod
    def _plot_importance(ax: Any, c: dict[str, Any]) -> None:
        names, values = c["features"][:15][::-1], c["values"][:15][::-1]
        ax.barh(range(len(names)), values)
        ax.set_yticks(range(len(names)), [n[-28:] for n in names], fontsize=7)
        ax.set(title="feature importance")

    @staticmethod
    def _plot_residuals(ax: Any, c: dict[str, Any]) -> None:
        ax.scatter(c["predicted"], c["residual"], s=4, alpha=0.4)
        ax.axhline(0, c="grey", lw=0.8)
        ax.set(title="residuals", xlabel="predicted", ylabel="actual - predicted")

    @staticmethod
    def _plot_cluster_sizes(ax: Any, c: dict[str, Any]) -> None:
        ax.bar([str(s) for s in c["segments"]], c["sizes"])
        ax.set(title="cluster sizes", ylabel="rows")


def _finite(metrics: dict[str, float]) -> dict[str, float | None]:
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in metrics.items()}


def _thin(*arrays: np.ndarray, points: int = CURVE_POINTS) -> list[list[float]]:
    n = len(arrays[0])
    idx = np.unique(np.linspace(0, n - 1, min(n, points)).astype(int)) if n else np.array([], dtype=int)
    return [[round(float(v), 6) for v in a[idx]] for a in arrays]


def curves_for(
    task: str,
    y: np.ndarray | None,
    raw: np.ndarray,
    model: Any,
    columns: Sequence[str],
    segments: Sequence[str] = (),
    seed: int = 0,
) -> dict[str, Any]:
    """The data of each plot of the task (thinned to ``CURVE_POINTS``)."""
    curves: dict[str, Any] = {}
    if task == CLASSIFICATION and raw.ndim == 1 and y is not None and len(np.unique(y)) == 2:
        from sklearn.metrics import precision_recall_curve, roc_curve

        fpr, tpr, _ = roc_curve(y, raw)
        fpr_t, tpr_t = _thin(fpr, tpr)
        curves["roc"] = {"fpr": fpr_t, "tpr": tpr_t}
        precision, recall, _ = precision_recall_curve(y, raw)
        p_t, r_t = _thin(precision, recall)
        curves["pr"] = {"precision": p_t, "recall": r_t}
        edges = np.quantile(raw, np.linspace(0, 1, CALIBRATION_BINS + 1))
        which = np.clip(np.searchsorted(edges[1:-1], raw, side="right"), 0, CALIBRATION_BINS - 1)
        predicted, observed, counts = [], [], []
        for b in range(CALIBRATION_BINS):
            mask = which == b
            if mask.any():
                predicted.append(round(float(raw[mask].mean()), 6))
                observed.append(round(float(y[mask].mean()), 6))
                counts.append(int(mask.sum()))
        curves["calibration"] = {"predicted": predicted, "observed": observed, "count": counts}
    if task == REGRESSION and y is not None:
        rng = np.random.default_rng(seed)
        take = rng.choice(len(raw), size=min(len(raw), 500), replace=False) if len(raw) else np.array([], dtype=int)
        curves["residuals"] = {"predicted": [round(float(v), 6) for v in raw[take]],
                               "residual": [round(float(v), 6) for v in (np.asarray(y, float) - raw)[take]]}
    if task == CLUSTERING:
        sizes = np.bincount(np.asarray(raw, dtype=int)) if len(raw) else np.array([], dtype=int)
        names = [segments[i] if i < len(segments) else f"segment_{i}" for i in range(len(sizes))]
        curves["cluster_sizes"] = {"segments": names, "sizes": [int(s) for s in sizes]}
    history = getattr(model, "history_", None)  # a network's epochs (``models.deep``)
    if history:
        curves["loss"] = {"epoch": [int(p["epoch"]) for p in history],
                          "train_loss": [round(float(p["train_loss"]), 6) for p in history],
                          "val_loss": [round(float(p["val_loss"]), 6) for p in history],
                          "best_epoch": int(getattr(model, "best_epoch_", 0) or 0)}
    importance = importances(model, columns)
    if importance:
        curves["importance"] = {"features": [n for n, _ in importance], "values": [round(v, 6) for _, v in importance]}
    return curves


def importances(model: Any, columns: Sequence[str]) -> list[tuple[str, float]]:
    """(column, importance) largest first: tree importances, or |coefficient| for linear models."""
    values = getattr(model, "feature_importances_", None)
    if values is None and hasattr(model, "coef_"):
        coef = np.asarray(model.coef_, dtype=float)
        values = np.abs(coef).mean(axis=0) if coef.ndim == 2 else np.abs(coef)
    if values is None or len(values) != len(columns):
        return []
    pairs = sorted(zip(columns, (float(v) for v in values)), key=lambda p: -p[1])
    return [(c, v) for c, v in pairs]


__all__ = ["EvaluationReport", "curves_for", "importances", "task_metrics"]
