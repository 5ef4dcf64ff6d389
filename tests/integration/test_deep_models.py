"""The torch kinds end to end on small data: train, pickle, serve, tune, resume after a kill, stream, log curves."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch", reason="the torch kinds need the dl extra: pip install 'mlplat[dl]'")

from mlplat.errors import ValidationError  # noqa: E402
from mlplat.models.deep.estimator import MLPClassifier, SequenceClassifier  # noqa: E402
from mlplat.models.deep.loader import ParquetBatches, pipeline_prepare  # noqa: E402
from mlplat.models.deep.loop import LoopConfig, run_loop  # noqa: E402
from mlplat.models.evaluate import task_metrics  # noqa: E402
from mlplat.models.pipeline import ModelPipeline  # noqa: E402
from mlplat.models.training import ExampleLayout, TrainConfig, train_pipeline  # noqa: E402

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
N_EVENTS = 4
LAYOUT = ExampleLayout(entity=("user_id",), label_columns=("bought",), store_columns=("user__x0", "user__country"),
                       event_columns=tuple(f"ev{i}_{c}" for i in range(1, N_EVENTS + 1)
                                           for c in ("event_type", "price")))
FAST = {"max_epochs": 12, "patience": 3, "batch_size": 128, "hidden": 32}


def make_examples(n: int, seed: int = 0) -> pd.DataFrame:
    """Rows whose label depends on a store feature, a category and on the recent events (add_to_cart, price)."""
    rng = np.random.default_rng(seed)
    x0 = rng.normal(size=n)
    country = rng.choice(["US", "IN", "DE"], n)
    frame = {"user_id": [f"u{i}" for i in range(n)], "user__x0": x0, "user__country": country}
    logit = 0.8 * x0 + 0.7 * (country == "US") - 1.5
    for i in range(1, N_EVENTS + 1):
        present = rng.random(n) < 0.85 - 0.1 * i
        kind = np.where(present, rng.choice(["page_view", "product_view", "add_to_cart"], n, p=[.5, .35, .15]), None)
        price = np.where(present & (kind != "page_view"), rng.lognormal(3, 0.5, n), np.nan)
        logit = logit + (kind == "add_to_cart") * (2.0 / i) - 0.3 * np.nan_to_num(np.log(price / 20)) / i
        frame[f"ev{i}_event_type"], frame[f"ev{i}_price"] = kind, price
    frame["bought"] = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    return pd.DataFrame(frame)


@pytest.fixture(scope="module")
def examples() -> pd.DataFrame:
    return make_examples(3000)


@pytest.fixture(autouse=True)
def one_torch_thread():  # type: ignore[no-untyped-def]
    """Small batches gain nothing from a second intra-op thread, and on a busy shared machine its spinning made
    these fits 5x slower (16 s against 3.4 s for one sequence model)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_without_torch_the_kinds_are_absent_and_named() -> None:
    code = textwrap.dedent("""
        import sys; sys.modules["torch"] = None
        from mlplat.errors import MissingDependency
        from mlplat.models.catalog import CATALOG, get_kind
        from mlplat.models.automl import _candidates
        import pandas as pd
        assert "mlp" not in CATALOG and "sequence_gru" not in CATALOG and "xgboost" in CATALOG, list(CATALOG)
        try:
            get_kind("sequence_gru")
        except MissingDependency as exc:
            print(exc.message)
        print(_candidates(None, "classification", pd.Series([0, 1])))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert "pip install 'mlplat[dl]'" in out.stdout
    assert "mlp" not in out.stdout.splitlines()[-1]


def test_mlp_trains_pickles_and_serves_the_same_numbers(examples: pd.DataFrame) -> None:
    config = TrainConfig(model="mlp", target="bought", features=["user__x0", "user__country"], params=FAST)
    said: list[tuple[str, float]] = []
    result = train_pipeline(examples, config, LAYOUT, progress=lambda message, fraction: said.append((message,
                                                                                                      fraction)))
    model = result.pipeline.model
    assert isinstance(model, MLPClassifier)
    assert [b for b, _ in model.net_.tabular.embeddings.named_children()] == ["0"]  # one block: the country
    assert result.metrics["auc"] > 0.65, result.metrics
    assert model.history_ and model.best_epoch_ >= 1
    # each finished epoch is progress (a notebook's bar), and the report carries the loss curve to plot
    epochs = [(m, f) for m, f in said if m.startswith("epoch ")]
    assert len(epochs) == len(model.history_) and epochs[0][0].startswith("epoch 1/12: train loss ")
    assert [f for _, f in epochs] == sorted(f for _, f in epochs) and 0.2 < epochs[-1][1] <= 0.9
    loss = result.report.curves["loss"]
    assert loss["val_loss"] == [round(p["val_loss"], 6) for p in model.history_]
    assert loss["best_epoch"] == model.best_epoch_ and "loss" in result.report.plots()
    assert len(result.report.figure().axes) == len(result.report.plots())
    loaded = ModelPipeline.from_bytes(result.pipeline.to_bytes())
    rows = examples.head(20)
    a, b = result.pipeline.predict(rows), loaded.predict(rows)
    assert np.allclose(a["probability"], b["probability"], rtol=1e-6)
    store = [{"user.x0": float(r.user__x0), "user.country": r.user__country} for r in rows.itertuples()]
    online = loaded.predict_online(store)
    assert np.allclose(online["probability"], a["probability"], rtol=1e-5)


def test_sequence_model_learns_from_the_events(examples: pd.DataFrame) -> None:
    seq = train_pipeline(examples, TrainConfig(model="sequence_gru", target="bought", params=FAST), LAYOUT)
    assert isinstance(seq.pipeline.model, SequenceClassifier)
    flat = train_pipeline(examples, TrainConfig(model="mlp", target="bought",
                                                features=["user__x0", "user__country"], params=FAST), LAYOUT)
    # the events carry most of the planted signal: reading them must beat the same net without them
    assert seq.metrics["auc"] > flat.metrics["auc"] + 0.05, (seq.metrics, flat.metrics)
    with pytest.raises(ValidationError, match="ev1_price"):  # a wrong dtype is a 422 naming the field
        seq.pipeline.predict_online([{"user.x0": 0.1, "user.country": "US"}], [{"ev1_price": "cheap"}])
    with pytest.raises(ValidationError, match="event columns"):
        train_pipeline(examples, TrainConfig(model="sequence_gru", target="bought",
                                             features=["user__x0", "user__country"], params=FAST), LAYOUT)


def test_serving_runs_one_thread_per_worker(examples: pd.DataFrame, tmp_path: Path) -> None:
    result = train_pipeline(examples.head(600), TrainConfig(model="mlp", target="bought", params={
        **FAST, "max_epochs": 2}, features=["user__x0", "user__country"]), LAYOUT)
    path = tmp_path / "p.bin"
    result.pipeline.save(str(path))
    code = textwrap.dedent(f"""
        import torch
        from mlplat.models.pipeline import ModelPipeline
        from mlplat.serving.served import prepare
        torch.set_num_threads(2)
        served = prepare("m", 1, ModelPipeline.load({str(path)!r}))
        print(torch.get_num_threads())
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[-1] == "1"


def test_tuning_searches_the_catalog_space(examples: pd.DataFrame, tmp_path: Path) -> None:
    from mlplat.models.tuning import tune

    config = TrainConfig(model="mlp", target="bought", features=["user__x0", "user__country"],
                         params={"max_epochs": 3, "patience": 1})
    found = tune(examples.head(1500), config, LAYOUT, storage=f"sqlite:///{tmp_path}/optuna.db",
                 study_name="deep", trials=3, space={"hidden": [16, 32], "lr": {"low": 1e-3, "high": 1e-2}})
    assert len([t for t in found.trials if t["state"] == "COMPLETE"]) == 3
    assert set(found.best_params) == {"hidden", "lr"}
    assert found.result.metrics["auc"] > 0.6


def test_out_of_memory_names_the_batch_size() -> None:
    class Greedy(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Linear(2, 2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    x, y = torch.zeros(8, 2), torch.zeros(8, dtype=torch.long)
    with pytest.raises(ValidationError, match=r"batch_size=512.*e\.g\. 256"):
        run_loop(Greedy(), torch.nn.CrossEntropyLoss(), lambda: [(x, y)], (x, y), LoopConfig(batch_size=512))


def test_a_killed_run_resumes_from_its_last_checkpoint(tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt"
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT / "tests" / "integration")!r})
        from test_deep_models import resumable_fit
        resumable_fit({str(ckpt)!r})
    """)
    child = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)},
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and _epochs_done(ckpt) < 2:
            assert child.poll() is None, child.stderr.read().decode() if child.stderr else ""
            time.sleep(0.05)
        time.sleep(0.2)  # into the next epoch
        os.kill(child.pid, signal.SIGKILL)
        child.wait(30)
    finally:
        if child.poll() is None:
            child.kill()
    done = _epochs_done(ckpt)
    assert 2 <= done < 8, done  # killed partway, with finished epochs saved
    killed = torch.load(ckpt / "last.pt", weights_only=False)["history"]
    model = resumable_fit(str(ckpt))
    assert model.resumed_from_ == done
    assert [int(p["epoch"]) for p in model.history_] == list(range(1, 9))
    assert model.history_[:done] == killed  # the killed run's epochs are kept, not retrained


def resumable_fit(checkpoint_dir: str) -> MLPClassifier:
    """What the killed child runs, and then the test itself: 8 epochs of a slow small fit."""
    torch.set_num_threads(1)
    frame = make_examples(6000, seed=1)
    x = np.column_stack([frame["user__x0"], frame["user__country"] == "US", frame["ev1_price"].fillna(0)])
    model = MLPClassifier(max_epochs=8, patience=100, batch_size=16, hidden=64, checkpoint_dir=checkpoint_dir)
    return model.fit(x.astype(float), frame["bought"].to_numpy())


def _epochs_done(ckpt: Path) -> int:
    path = ckpt / "last.pt"
    if not path.exists():
        return 0
    try:
        return int(torch.load(path, weights_only=False)["epoch"])
    except Exception:  # broad on purpose: the file is replaced while we look
        return 0


def test_a_checkpoint_of_another_run_is_refused(tmp_path: Path) -> None:
    x = np.random.default_rng(0).normal(size=(100, 2))
    y = (x[:, 0] > 0).astype(int)
    MLPClassifier(max_epochs=1, checkpoint_dir=str(tmp_path)).fit(x, y)
    with pytest.raises(ValidationError, match="another run's checkpoint"):
        MLPClassifier(max_epochs=1, hidden=8, checkpoint_dir=str(tmp_path)).fit(x, y)


def test_streaming_loader_trains_with_bounded_batches(examples: pd.DataFrame, tmp_path: Path) -> None:
    features = ["user__x0", "user__country"]
    fitted = train_pipeline(examples.head(300), TrainConfig(model="mlp", target="bought", features=features,
                                                            params={**FAST, "max_epochs": 1}), LAYOUT).pipeline
    folder = tmp_path / "set"
    folder.mkdir()
    for i, part in enumerate(np.array_split(examples.iloc[300:2500], 3)):
        part.to_parquet(folder / f"part-{i}.parquet")
    prepare = pipeline_prepare(fitted, "bought")
    batches = ParquetBatches(str(folder), [*features, "bought"], prepare, batch_rows=200)
    holdout = examples.iloc[2500:]
    model = MLPClassifier(max_epochs=6, patience=2, hidden=32, columns=tuple(fitted.model_columns))
    model.fit_stream(batches, prepare(holdout.iloc[:250]), classes=[0, 1])
    x_test, y_test = prepare(holdout.iloc[250:])
    auc = task_metrics("classification", y_test, model.predict_proba(x_test)[:, 1], x_test, model)["auc"]
    assert auc > 0.65 and batches.peak_rows <= 200 and batches.epoch >= 2
    with pytest.raises(ValidationError, match="lacks column"):
        ParquetBatches(str(folder), ["nope"], prepare)


def test_curves_are_logged_to_mlflow(examples: pd.DataFrame, tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from mlplat.models.deep.history import log_curves

    model = MLPClassifier(max_epochs=3, patience=5).fit(np.column_stack([examples["user__x0"]]),
                                                        examples["bought"].to_numpy())
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    run = client.create_run(client.create_experiment("deep"))
    assert log_curves(client, run.info.run_id, model) == 7
    history = client.get_metric_history(run.info.run_id, "val_loss")
    assert [m.step for m in history] == [1, 2, 3]
    assert [m.value for m in history] == pytest.approx([p["val_loss"] for p in model.history_])


def test_batch_scoring_on_spark_runs_the_network(examples: pd.DataFrame, spark) -> None:  # type: ignore[no-untyped-def]
    from mlplat.serving.batch import score

    result = train_pipeline(examples, TrainConfig(model="sequence_gru", target="bought",
                                                  params={**FAST, "max_epochs": 2}), LAYOUT)
    rows = examples.head(50)[["user_id", *result.pipeline.schema.names]]
    frame = spark.createDataFrame(rows.astype(object).where(rows.notna(), None))
    scored = score(frame, result.pipeline, "seq", 1, {}, datetime.now(timezone.utc)).toPandas()
    scored = scored.set_index("user_id").loc[rows["user_id"]]
    expected = result.pipeline.predict(rows)
    assert np.allclose(scored["probability"].to_numpy(), expected["probability"].to_numpy(), rtol=1e-5)


def test_torch_distributor_trains_with_two_processes(examples: pd.DataFrame, spark) -> None:  # type: ignore[no-untyped-def]
    from mlplat.models.deep.distributed import fit_distributed

    x = np.column_stack([examples["user__x0"], examples["user__country"] == "US"]).astype(float)
    y = examples["bought"].to_numpy()
    model = fit_distributed(MLPClassifier(max_epochs=3, patience=5, hidden=16), x[:2500], y[:2500],
                            num_processes=2)
    assert isinstance(model, MLPClassifier) and len(model.history_) == 3
    auc = task_metrics("classification", y[2500:], model.predict_proba(x[2500:])[:, 1], x[2500:], model)["auc"]
    assert auc > 0.6
    with pytest.raises(ValidationError, match="torch kinds"):
        fit_distributed(object(), x, y)


def test_folded_first_layer_is_the_same_function_as_embedding_each_block() -> None:
    """The embeddings fold into the first layer (one product per batch): outputs and gradients must not change."""
    from mlplat.models.deep.layout import SequenceLayout, TabularLayout
    from mlplat.models.deep.nets import SequenceNet

    torch.manual_seed(0)
    columns = ["a", "c=x", "ev1_price", "b", "c=y", "ev1_event_type=view", "d=1", "c=z", "d=2"]
    events = SequenceLayout.from_columns(columns)
    assert events is not None
    net = SequenceNet(TabularLayout.from_columns(columns, skip=events.columns), events, 2, gru_hidden=4,
                      embedding_dim=2, hidden=8, layers=2, dropout=0.0)
    x = torch.randn(6, len(columns))
    folded = net.tabular(x)
    by_columns = net.tabular._by_columns(x)
    assert torch.allclose(folded, by_columns, atol=1e-6)
    assert net.tabular.folded_weight()[:, list(events.columns)].abs().sum() == 0  # the events: zero weight
    grads = []
    for out in (folded, by_columns):
        net.zero_grad()
        out.sum().backward(retain_graph=True)
        grads.append([p.grad.clone() for p in net.tabular.parameters()])
    assert all(torch.allclose(g1, g2, atol=1e-5) for g1, g2 in zip(*grads))
    # a network pickled before folding existed (no fold_order) still predicts the same
    del net.tabular._buffers["fold_order"]
    assert torch.allclose(net.tabular(x), folded, atol=1e-6)


def test_serving_chain_matches_the_modules_and_follows_parameter_changes() -> None:
    from mlplat.models.deep.layout import TabularLayout
    from mlplat.models.deep.nets import MLPNet

    torch.manual_seed(1)
    columns = ["a", "c=x", "b", "c=y", "c=z", "d=1", "d=2"]
    net = MLPNet(TabularLayout.from_columns(columns), 2, embedding_dim=2, hidden=8, layers=2, dropout=0.5).eval()
    x = torch.randn(4, len(columns))
    with torch.no_grad():
        modules = net(x)  # eval without inference mode: the modules themselves
    with torch.inference_mode():
        served = net(x)
    assert "_serve_chain" in net.__dict__ and torch.allclose(served, modules, atol=1e-6)
    with torch.no_grad():
        net.head.bias.add_(1.0)  # a changed parameter must not be served from the old chain
        moved = net(x)
    with torch.inference_mode():
        assert torch.allclose(net(x), moved, atol=1e-6) and not torch.allclose(moved, modules)
    restored = pickle.loads(pickle.dumps(net))
    assert "_serve_chain" not in restored.__dict__
    with torch.inference_mode():
        assert torch.allclose(restored(x), moved, atol=1e-6)


def test_batch_scoring_takes_the_accelerator_path_and_pickles_back_to_the_cpu(examples: pd.DataFrame) -> None:
    """No GPU here: ``use_accelerator`` says so and changes nothing; the device path itself runs with the CPU
    standing in for the GPU (the copies to and from it are the same calls), and a pickle never carries it."""
    x = np.column_stack([examples["user__x0"].to_numpy()])
    model = MLPClassifier(max_epochs=2, patience=5).fit(x, examples["bought"].to_numpy())
    want = model.predict_proba(x[:50])
    assert not torch.cuda.is_available() and model.use_accelerator() == "cpu"
    assert "accelerator_" not in model.__dict__
    model.__dict__["accelerator_"] = torch.device("cpu")
    assert np.allclose(model.predict_proba(x[:50]), want, rtol=1e-6)
    restored = pickle.loads(pickle.dumps(model))
    assert "accelerator_" not in restored.__dict__ and "accelerator_" in model.__dict__
    assert np.allclose(restored.predict_proba(x[:50]), want, rtol=1e-6)


def test_the_service_scores_a_networks_micro_batch_in_one_call(examples: pd.DataFrame) -> None:
    from mlplat.models.fastpath import RowPredictor

    result = train_pipeline(examples.head(600), TrainConfig(model="mlp", target="bought", params=FAST,
                                                            features=["user__x0", "user__country"]), LAYOUT)
    predictor = RowPredictor(result.pipeline)
    assert predictor.rows_independent
    rows = [predictor.decode({"user.x0": float(r.user__x0), "user.country": r.user__country}, {})
            for r in examples.head(40).itertuples()]
    calls: list[int] = []
    score = predictor._score
    predictor._score = lambda x: calls.append(len(x)) or score(x)
    batched = predictor.predict_rows(rows)
    assert calls == [40]  # one forward for the micro-batch, not one per request
    singles = [predictor.predict_decoded(r) for r in rows]
    assert [set(b) for b in batched] == [set(s) for s in singles] and "probability" in batched[0]
    assert np.allclose([b["probability"] for b in batched], [s["probability"] for s in singles], rtol=1e-5, atol=0)
