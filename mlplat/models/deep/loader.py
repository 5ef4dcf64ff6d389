"""A streaming Parquet loader: an example set read in record batches, through the pipeline, epoch after epoch.

An example set can be far larger than memory. ``ParquetBatches`` opens it as a
``pyarrow.dataset`` and yields ``(matrix, target)`` one record batch at a
time, each batch decoded and transformed by the same pipeline stages that
serving runs (``ModelPipeline.matrix``), so a network trained from the stream
sees exactly the numbers it will see online. At most ``batch_rows`` rows (plus
pyarrow's small read-ahead) are held at once; ``peak_rows`` records the
largest batch seen, which is what the tests check.

Shuffling is by fragment order and within a batch (seeded per epoch): a full
shuffle would need the whole set.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np
import pandas as pd

from mlplat.errors import ValidationError

Prepare = Callable[[pd.DataFrame], tuple[np.ndarray, np.ndarray]]


class ParquetBatches:
    """Iterable of ``(x, y)`` batches over a Parquet folder; iterate once per epoch."""

    def __init__(self, path: str, columns: Sequence[str], prepare: Prepare, *, batch_rows: int = 4096,
                 seed: int = 0, filesystem: Any = None) -> None:
        import pyarrow.dataset as ds

        if batch_rows < 1:
            raise ValidationError(f"batch_rows must be at least 1, not {batch_rows}")
        try:
            self.dataset = ds.dataset(path, format="parquet", partitioning="hive", filesystem=filesystem)
        except (FileNotFoundError, OSError) as exc:
            raise ValidationError(f"cannot open the example set at {path}: {exc}") from None
        missing = [c for c in columns if c not in self.dataset.schema.names]
        if missing:
            raise ValidationError(f"the example set at {path} lacks column(s) {missing}", missing=missing)
        self.columns = list(columns)
        self.prepare = prepare
        self.batch_rows = batch_rows
        self.seed = seed
        self.epoch = 0
        self.peak_rows = 0

    def __call__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return iter(self)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng((self.seed, self.epoch))
        self.epoch += 1
        fragments = list(self.dataset.get_fragments())
        for f in rng.permutation(len(fragments)):
            for batch in fragments[f].to_batches(columns=self.columns, batch_size=self.batch_rows,
                                                 batch_readahead=1, fragment_readahead=1):
                if batch.num_rows == 0:
                    continue
                self.peak_rows = max(self.peak_rows, batch.num_rows)
                x, y = self.prepare(batch.to_pandas())
                order = rng.permutation(len(x))
                yield x[order], y[order]


def pipeline_prepare(pipeline: Any, target: str) -> Prepare:
    """``frame -> (matrix, y)`` through a pipeline's decode and transform (its fitted transformer)."""

    def prepare(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        frame = frame[frame[target].notna()]
        return pipeline.matrix(frame), frame[target].to_numpy()

    return prepare


__all__ = ["ParquetBatches", "pipeline_prepare"]
