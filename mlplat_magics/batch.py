"""``%batch_predict``: score every entity of a model's key on Spark, from a notebook."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from mlplat.pairs import parse_pairs
from mlplat.serving.batch import BatchResult
from mlplat_magics.base import ClientMagics, parse
from mlplat_magics.display import Table, png_html
from mlplat_magics.progress import progress_bar


@dataclass
class BatchCard:
    """A batch-inference run: where the predictions went, and (on a local lake) how the scores spread."""

    result: BatchResult

    def table(self) -> Table:
        r = self.result
        online = f"{r.online_rows:,} rows" if r.online_rows else "not loaded"
        rows = [["rows", f"{r.rows:,}"], ["files", r.url], ["Online Serving", online],
                ["outputs", ", ".join(r.outputs)], ["seconds", f"{r.seconds:.1f}"]]
        return Table(["", ""], rows, title=f"{r.model} v{r.version} for {r.date}")

    def figure(self) -> Any:
        """A histogram of the first numeric output; None when the files are not on a local lake."""
        from mlplat.lake import local_path

        path = local_path(self.result.url)
        numeric = [c for c in self.result.outputs if c in ("probability", "value", "cluster")]
        if path is None or not path.is_dir() or not numeric:
            return None
        import matplotlib.pyplot as plt
        import pyarrow.dataset as pads

        scores = pads.dataset(str(path), format="parquet").to_table(columns=numeric[:1]).column(0).to_numpy()
        fig, ax = plt.subplots(figsize=(6, 2.6))
        ax.hist(scores, bins=40, color="tab:blue")
        ax.set_title(f"{self.result.model} v{self.result.version}: {numeric[0]} of {len(scores):,} entities")
        ax.set_xlabel(numeric[0])
        ax.set_ylabel("entities")
        fig.tight_layout()
        return fig

    def _repr_html_(self) -> str:
        fig = self.figure()
        return self.table()._repr_html_() + (png_html(fig) if fig is not None else "")

    def __repr__(self) -> str:
        return repr(self.table())


@magics_class
class BatchMagics(ClientMagics):
    NAME = "batch_predict"

    @magic_arguments("batch_predict")
    @argument("model")
    @argument("--date", help="score as of the end of this day, YYYY-MM-DD (default: yesterday, UTC)")
    @argument("--version", type=int, help="the version (default: the deployed one, else the newest)")
    @argument("--online", action="store_true", help="also load the predictions into Online Serving (precomputed)")
    @argument("--feature", action="append", help="NAME=VALUE constant for a session feature; repeatable")
    def _batch_predict(self, line: str) -> BatchCard:
        """Score every entity on Spark into predictions/<model>/<date>/ in the lake."""
        args = parse(self._batch_predict, line)
        with progress_bar(f"batch-predict {args.model}") as bar:
            result = self.client.serving.batch_predict(args.model, args.date, version=args.version,
                                                       online=args.online,
                                                       features=parse_pairs(args.feature, "--feature") or None,
                                                       progress=bar)
        return BatchCard(result if isinstance(result, BatchResult) else BatchResult.from_dict(result))

    @line_magic
    def batch_predict(self, line: str) -> Any:
        """Score every entity: %batch_predict MODEL [--date D] [--online] [--feature k=v ...] (``-h``)."""
        from mlplat_magics.models import _help_or_run

        return _help_or_run(self._batch_predict, line)
