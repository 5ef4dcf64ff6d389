"""The two networks: an MLP over tabular inputs, and a GRU over the last N events beside it.

Both take the pipeline's float matrix as one tensor and split it themselves
(``layout``), so a batch is a single tensor wherever it comes from: an
in-memory array, the streaming Parquet loader, or a serving request.
"""

from __future__ import annotations

from itertools import islice
from typing import Any

import torch
from torch import nn

from mlplat.models.deep.layout import SequenceLayout, TabularLayout


class Tabular(nn.Module):  # type: ignore[misc]  # torch is not followed by mypy (pyproject)
    """Numbers as they are plus one embedding per one-hot block, then an MLP body (no head).

    The embeddings feed the body's first layer directly, so the two fold into
    one matrix: ``W [x_num, E_b x_b ...] = [W_num, W_b E_b ...] x``. The forward
    builds that (hidden x matrix width) weight from the parameters, in the
    matrix's column order, and applies it to the batch as one linear layer:
    the same function and the same parameters (and gradients) as selecting,
    splitting, embedding and concatenating the batch's columns, for one
    matrix product instead of a handful of copies per batch.
    """

    def __init__(self, layout: TabularLayout, embedding_dim: int, hidden: int, layers: int, dropout: float,
                 width: int | None = None) -> None:
        super().__init__()
        blocks = [list(cols) for _, cols in layout.blocks]
        self.has_numeric = bool(layout.numeric)
        # index tensors made once: a Python list would be turned into one on every forward
        self.register_buffer("numeric", torch.tensor(layout.numeric, dtype=torch.long), persistent=False)
        self.register_buffer("block_columns", torch.tensor(sum(blocks, []), dtype=torch.long), persistent=False)
        self.block_sizes = [len(cols) for cols in blocks]
        self.embeddings = nn.ModuleList(
            nn.Linear(len(cols), min(embedding_dim, len(cols)), bias=False) for cols in blocks
        )
        inner = len(self.numeric) + sum(e.out_features for e in self.embeddings)
        body: list[nn.Module] = []
        for _ in range(layers):
            body += [nn.Linear(inner, hidden), nn.ReLU(), nn.Dropout(dropout)]
            inner = hidden
        self.body = nn.Sequential(*body)
        self.out_features = inner
        # the matrix columns the layout leaves out (a sequence model's events) get zero weight
        placed = [*layout.numeric, *sum(blocks, [])]
        total = max([*placed, -1]) + 1 if width is None else width
        order = placed + sorted(set(range(total)) - set(placed))
        self.skipped = total - len(placed)
        self.register_buffer("fold_order", torch.argsort(torch.tensor(order, dtype=torch.long)), persistent=False)

    def folded_weight(self) -> torch.Tensor:
        """The first layer's weight over the whole matrix, in its column order (see the class doc)."""
        first: nn.Linear = self.body[0]
        weight = first.weight
        at = len(self.numeric)
        parts = [weight[:, :at]]
        for emb in self.embeddings:
            parts.append(weight[:, at:at + emb.out_features] @ emb.weight)
            at += emb.out_features
        if self.skipped:
            parts.append(weight.new_zeros((weight.shape[0], self.skipped)))
        return torch.cat(parts, dim=1).index_select(1, self.fold_order)

    @property
    def foldable(self) -> bool:
        """Inputs and a first layer to fold them into (a network pickled before folding existed has no order)."""
        return bool(self.has_numeric or self.block_sizes) and len(self.body) > 0 and "fold_order" in self._buffers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.has_numeric and not self.block_sizes:
            return x[:, :0]
        if not self.foldable:
            return self._by_columns(x)
        out = nn.functional.linear(x, self.folded_weight(), self.body[0].bias)
        for layer in islice(self.body, 1, None):
            out = layer(out)
        return out

    def _by_columns(self, x: torch.Tensor) -> torch.Tensor:
        parts = [x.index_select(1, self.numeric)] if self.has_numeric else []
        if self.block_sizes:
            one_hot = torch.split(x.index_select(1, self.block_columns), self.block_sizes, dim=1)
            parts += [emb(block) for emb, block in zip(self.embeddings, one_hot)]
        out: torch.Tensor = self.body(torch.cat(parts, dim=1))
        return out


class MLPNet(nn.Module):  # type: ignore[misc]
    """The tabular body and a head.

    Serving (``eval()`` under ``torch.inference_mode``) runs the same layers
    as a plain chain of ``linear``/``relu`` calls over weights gathered once
    (the folded first layer included; dropout is the identity in eval):
    for one request's row the per-module call machinery, not the arithmetic,
    was most of the time (33 us against 11 us for three layers). The chain is
    rebuilt whenever a parameter changes (its version or storage) or moves.
    """

    def __init__(self, layout: TabularLayout, outputs: int, **size: Any) -> None:
        super().__init__()
        self.tabular = Tabular(layout, **size)
        self.head = nn.Linear(self.tabular.out_features, outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training and torch.is_inference_mode_enabled():
            chain = self._chain()
            if chain is not None:
                for weight, bias, relu in chain:
                    x = nn.functional.linear(x, weight, bias)
                    if relu:
                        x = torch.relu(x)
                return x
        out: torch.Tensor = self.head(self.tabular(x))
        return out

    def _chain(self) -> list[tuple[torch.Tensor, torch.Tensor | None, bool]] | None:
        params = self.__dict__.get("_serve_params")
        if params is None or params[-1] is not self.head.bias:  # new Parameter objects (a conversion made them)
            params = self.__dict__["_serve_params"] = list(self.parameters())
        key = tuple((p._version, p.data_ptr()) for p in params)
        cached = self.__dict__.get("_serve_chain")
        if cached is not None and cached[0] == key:
            chain: list[tuple[torch.Tensor, torch.Tensor | None, bool]] | None = cached[1]
            return chain
        chain = self._gather()
        self.__dict__["_serve_chain"] = (key, chain)
        return chain

    def _gather(self) -> list[tuple[torch.Tensor, torch.Tensor | None, bool]] | None:
        tab = self.tabular
        if not tab.foldable:
            return None
        chain: list[tuple[torch.Tensor, torch.Tensor | None, bool]] = [(tab.folded_weight(), tab.body[0].bias, False)]
        for layer in islice(tab.body, 1, None):
            if isinstance(layer, nn.Linear):
                chain.append((layer.weight, layer.bias, False))
            elif isinstance(layer, nn.ReLU):
                chain[-1] = (chain[-1][0], chain[-1][1], True)
            elif not isinstance(layer, nn.Dropout):
                return None  # a layer the chain does not know: the modules run it
        chain.append((self.head.weight, self.head.bias, False))
        return chain

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_serve_params", None)  # derived: gathered again on the first prediction after loading
        state.pop("_serve_chain", None)
        return state


class SequenceNet(nn.Module):  # type: ignore[misc]
    """A GRU over the event steps (oldest first); its last state joins the tabular body before the head."""

    def __init__(self, tabular: TabularLayout, events: SequenceLayout, outputs: int, *, gru_hidden: int,
                 embedding_dim: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.events = events
        placed = [*tabular.numeric, *(i for _, cols in tabular.blocks for i in cols), *events.columns]
        self.tabular = Tabular(tabular, embedding_dim, hidden, layers, dropout, width=max(placed) + 1)
        # the one-hot slots of a step times this map is each field's embedding, summed with the numbers
        self.step = nn.Linear(events.width, max(embedding_dim * 2, 8))
        self.gru = nn.GRU(self.step.out_features, gru_hidden, batch_first=True)
        self.head = nn.Sequential(nn.Linear(self.tabular.out_features + gru_hidden, hidden), nn.ReLU(),
                                  nn.Dropout(dropout), nn.Linear(hidden, outputs))
        self.register_buffer("place_columns", torch.tensor(events.columns, dtype=torch.long), persistent=False)
        self.register_buffer("place_steps", torch.tensor(events.step_index, dtype=torch.long), persistent=False)
        self.register_buffer("place_slots", torch.tensor(events.slot_index, dtype=torch.long), persistent=False)

    def arrange(self, x: torch.Tensor) -> torch.Tensor:
        """The torch twin of ``SequenceLayout.arrange``: the batch stays on its device."""
        ev = self.events
        out = x.new_zeros((x.shape[0], ev.steps, ev.width))
        out[:, self.place_steps, self.place_slots] = torch.nan_to_num(x[:, self.place_columns])
        if ev.presence:
            present = out[:, :, list(ev.presence)].sum(dim=2) > 0
        else:
            present = torch.ones(out.shape[:2], dtype=torch.bool, device=x.device)
        out[:, :, -1] = present.to(out.dtype)
        if ev.numeric_slots:
            out[:, :, list(ev.numeric_slots)] = out[:, :, list(ev.numeric_slots)] * present.unsqueeze(2)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        steps = torch.relu(self.step(self.arrange(x)))
        _, last = self.gru(steps)
        out: torch.Tensor = self.head(torch.cat([self.tabular(x), last[-1]], dim=1))
        return out


__all__ = ["MLPNet", "SequenceNet", "Tabular"]
