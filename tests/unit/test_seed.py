"""The synthetic lake: layout, integrity, determinism, re-seeding and the planted signal."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pytest

from mlplat.seed import SeedReport, seed_lake

END = date(2026, 11, 5)
TS = pa.timestamp("us", tz="UTC")
SCHEMAS = {
    "users": {"user_id": pa.string(), "country": pa.string(), "device": pa.string(),
              "signup_date": pa.date32(), "age_band": pa.string()},
    "products": {"product_id": pa.string(), "category": pa.string(), "price": pa.float64(),
                 "stock": pa.int64()},
    "sessions": {"session_id": pa.string(), "user_id": pa.string(), "start_ts": TS, "end_ts": TS,
                 "device": pa.string(), "country": pa.string(), "page_views": pa.int64(),
                 "ds": pa.string()},
    "events": {"event_id": pa.string(), "ts": TS, "user_id": pa.string(),
               "session_id": pa.string(), "event_type": pa.string(), "product_id": pa.string(),
               "search_terms": pa.string(), "page_path": pa.string(), "device": pa.string(),
               "country": pa.string(), "price": pa.float64(), "ds": pa.string()},
    "stock_levels": {"product_id": pa.string(), "ts": TS, "stock": pa.int64(),
                     "reason": pa.string(), "ds": pa.string()},
}
PRODUCT_EVENTS = {"product_view", "add_to_cart", "purchase"}


def read(root: Path, name: str) -> pa.Table:
    partitioned = "ds" in SCHEMAS[name]
    partitioning = pads.partitioning(pa.schema([("ds", pa.string())]), flavor="hive")
    return pads.dataset(root / name, format="parquet",
                        partitioning=partitioning if partitioned else None).to_table()


def frames(root: Path) -> dict[str, pd.DataFrame]:
    return {name: read(root, name).to_pandas() for name in SCHEMAS}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[SeedReport, dict[str, pd.DataFrame], list]:
    root = tmp_path_factory.mktemp("small") / "lake"
    calls: list[tuple[str, float]] = []
    report = seed_lake(root, users=300, days=5, seed=7, end=END,
                       progress=lambda message, fraction: calls.append((message, fraction)))
    return report, frames(root), calls


@pytest.fixture(scope="module")
def moderate(tmp_path_factory: pytest.TempPathFactory) -> tuple[SeedReport, dict[str, pd.DataFrame]]:
    root = tmp_path_factory.mktemp("moderate") / "lake"
    report = seed_lake(root, users=5000, days=10, seed=1, end=END)
    return report, frames(root)


def test_tables_have_the_documented_layout_and_types(small) -> None:
    report, _, _ = small
    assert [t.name for t in report.tables] == list(SCHEMAS)
    assert report.start == END - timedelta(days=4) and report.end == END
    expected_days = {(END - timedelta(days=i)).isoformat() for i in range(5)}
    for table in report.tables:
        assert table.path == report.root / table.name and table.format == "parquet"
        data = read(report.root, table.name)
        assert {f.name: f.type for f in data.schema} == SCHEMAS[table.name]
        assert data.num_rows == table.rows > 0
        if "ds" in SCHEMAS[table.name]:
            assert table.partition_by == ["ds"]
            folders = {p.name for p in table.path.iterdir()}
            assert folders == {f"ds={d}" for d in expected_days}
            assert all((table.path / f / "part-00000.parquet").is_file() for f in folders)
        else:
            assert table.partition_by == []
            assert [p.name for p in table.path.iterdir()] == ["part-00000.parquet"]


def test_ids_are_unique_and_references_resolve(small) -> None:
    report, f, _ = small
    users, products, sessions, events = f["users"], f["products"], f["sessions"], f["events"]
    assert len(users) == 300 and len(products) == 200
    for frame, key in ((users, "user_id"), (products, "product_id"),
                       (sessions, "session_id"), (events, "event_id")):
        assert frame[key].is_unique
    assert set(users.user_id) == {f"u{i}" for i in range(1, 301)}
    assert set(events.session_id) == set(sessions.session_id)
    assert set(events.user_id) <= set(users.user_id)
    assert set(events.product_id.dropna()) <= set(products.product_id)
    assert set(f["stock_levels"].product_id) == set(products.product_id)
    joined = events.merge(sessions, on="session_id", suffixes=("", "_s"))
    assert (joined.user_id == joined.user_id_s).all() and (joined.ds == joined.ds_s).all()
    assert (joined.device == joined.device_s).all() and (joined.country == joined.country_s).all()
    assert set(users.device) <= {"ios", "android", "web"}
    assert users.country.value_counts().index[0] == "US"
    signup = sessions.merge(users, on="user_id").signup_date.astype(str)
    assert (signup <= sessions.ds.values).all()


def test_nullable_columns_follow_the_event_type(small) -> None:
    _, f, _ = small
    events = f["events"]
    assert set(events.event_type) == {"page_view", "search", "product_view", "add_to_cart", "purchase"}
    is_product = events.event_type.isin(PRODUCT_EVENTS)
    assert (events.product_id.notna() == is_product).all()
    assert (events.price.notna() == is_product).all()
    assert (events.search_terms.notna() == (events.event_type == "search")).all()
    views = events[events.event_type == "product_view"]
    assert (views.page_path == "/p/" + views.product_id).all()
    assert set(events[events.event_type == "search"].page_path) == {"/search"}
    assert set(events[events.event_type == "purchase"].page_path) == {"/checkout"}
    priced = events[is_product].merge(f["products"], on="product_id", suffixes=("", "_p"))
    assert (priced.price == priced.price_p).all()


def test_timestamps_fall_inside_their_partition(small) -> None:
    _, f, _ = small
    for name, columns in (("sessions", ["start_ts", "end_ts"]), ("events", ["ts"]),
                          ("stock_levels", ["ts"])):
        frame = f[name]
        for column in columns:
            assert (frame[column].dt.strftime("%Y-%m-%d") == frame.ds).all(), (name, column)
    sessions, events = f["sessions"], f["events"]
    per_session = events.groupby("session_id").agg(n=("ts", "size"), lo=("ts", "min"), hi=("ts", "max"))
    s = sessions.set_index("session_id").join(per_session)
    assert (s.page_views == s.n).all() and (s.start_ts == s.lo).all() and (s.end_ts == s.hi).all()
    assert (sessions.end_ts >= sessions.start_ts).all()


def test_purchases_follow_an_add_to_cart_of_a_viewed_product(small) -> None:
    _, f, _ = small
    events = f["events"].sort_values(["ts", "event_id"])
    purchases = events[events.event_type == "purchase"]
    assert len(purchases) > 0
    assert purchases.session_id.is_unique
    carts = events[events.event_type == "add_to_cart"]
    views = events[events.event_type == "product_view"]
    paired = purchases.merge(carts, on=["session_id", "product_id"], suffixes=("", "_cart"))
    assert len(paired) == len(purchases)
    assert (paired.ts_cart < paired.ts).all()
    seen = purchases.merge(views, on=["session_id", "product_id"], suffixes=("", "_view"))
    assert set(seen.event_id) == set(purchases.event_id)
    assert (seen.groupby("event_id").ts_view.min() < seen.groupby("event_id").ts.first()).all()


def test_stock_levels_track_sales_and_restocks(small) -> None:
    _, f, _ = small
    stock, products, events = f["stock_levels"], f["products"], f["events"]
    assert set(stock.reason) <= {"opening", "restock", "sale"}
    assert (stock.stock >= 0).all()
    assert (stock.reason == "sale").sum() == (events.event_type == "purchase").sum()
    assert (stock.reason == "opening").sum() == len(products)
    for product, rows in stock.groupby("product_id", sort=False):
        assert rows.ts.is_monotonic_increasing
        change = rows.stock.diff().iloc[1:]
        reason = rows.reason.iloc[1:]
        assert (change[reason == "sale"] == -1).all(), product
        assert (change[reason == "restock"] > 0).all(), product
    last = stock.groupby("product_id").stock.last()
    assert (products.stock.to_numpy() == last.reindex(products.product_id).to_numpy()).all()


def test_progress_reports_increasing_fractions(small) -> None:
    _, _, calls = small
    fractions = [fraction for _, fraction in calls]
    assert len(calls) >= 5 + 2
    assert fractions == sorted(fractions) and fractions[-1] == 1.0 and 0 < fractions[0]
    assert any("2026-11-03" in message for message, _ in calls)


def test_seed_json_records_parameters_rows_and_signal(small) -> None:
    report, _, _ = small
    manifest = json.loads((report.root / "_seed.json").read_text())
    assert manifest["parameters"] == {"users": 300, "days": 5, "seed": 7,
                                      "start": "2026-11-01", "end": "2026-11-05"}
    assert manifest["rows"] == {t.name: t.rows for t in report.tables}
    assert manifest["bayes_auc"] == report.bayes_auc
    assert {"intercept", "device_effect", "country_effect"} <= set(manifest["signal"])


def test_same_arguments_give_identical_files_and_another_seed_differs(tmp_path: Path) -> None:
    a = seed_lake(tmp_path / "a", users=200, days=3, seed=1, end=END)
    b = seed_lake(tmp_path / "b", users=200, days=3, seed=1, end=END)
    c = seed_lake(tmp_path / "c", users=200, days=3, seed=2, end=END)
    files = sorted(p.relative_to(a.root) for p in a.root.rglob("*.parquet"))
    assert files == sorted(p.relative_to(b.root) for p in b.root.rglob("*.parquet"))
    for rel in files:
        assert (a.root / rel).read_bytes() == (b.root / rel).read_bytes(), rel
    assert (a.root / "_seed.json").read_text() == (b.root / "_seed.json").read_text()
    assert a.bayes_auc == b.bayes_auc
    assert not read(a.root, "events").equals(read(c.root, "events"))
    assert not read(a.root, "users").equals(read(c.root, "users"))


def test_reseeding_replaces_tables_without_leftovers(tmp_path: Path) -> None:
    root = tmp_path / "lake"
    seed_lake(root, users=100, days=5, end=END)
    (root / "prediction_log").mkdir()  # someone else's table must survive a re-seed
    report = seed_lake(root, users=100, days=2, end=END)
    for table in report.tables:
        if table.partition_by:
            assert sorted(p.name for p in table.path.iterdir()) == ["ds=2026-11-04", "ds=2026-11-05"]
        assert read(root, table.name).num_rows == table.rows
    assert (root / "prediction_log").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lake"]  # no temporary folders left


@pytest.mark.parametrize(("kwargs", "argument"), [
    ({"users": 9}, "users"), ({"users": 10.5}, "users"), ({"days": 0}, "days"),
    ({"days": 3651}, "days"), ({"seed": -1}, "seed"), ({"end": "2026-11-05"}, "end"),
])
def test_bad_arguments_raise_value_error_naming_them(tmp_path: Path, kwargs: dict, argument: str) -> None:
    with pytest.raises(ValueError, match=argument):
        seed_lake(tmp_path / "lake", **kwargs)
    assert not (tmp_path / "lake").exists()


def session_features(f: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The planted signal's inputs, recomputed from the lake as a feature set would."""
    sessions, events, products = f["sessions"], f["events"], f["products"]
    days = sorted(sessions.ds.unique())
    views = events[events.event_type == "product_view"]
    daily = views.groupby(["user_id", "ds"]).size().unstack(fill_value=0).reindex(columns=days, fill_value=0)
    cumulative = np.concatenate([np.zeros((len(daily), 1)), daily.to_numpy().cumsum(axis=1)], axis=1)
    prior = pd.DataFrame(
        {d: cumulative[:, i] - cumulative[:, max(i - 7, 0)] for i, d in enumerate(days)}, index=daily.index)
    prior = prior.stack().rename("prior_views")
    in_session = views.groupby("session_id").agg(session_views=("price", "size"), mean_price=("price", "mean"))
    out = sessions.join(in_session, on="session_id").join(prior, on=["user_id", "ds"])
    out["session_views"] = out.session_views.fillna(0)
    out["prior_views"] = out.prior_views.fillna(0)
    ratio = np.log(out.mean_price / products.price.median())
    out["log_price_ratio"] = ratio.fillna(0.0)
    bought = set(events[events.event_type == "purchase"].session_id)
    out["purchased"] = out.session_id.isin(bought).astype(int)
    return out


def test_planted_signal_is_what_seed_json_documents(moderate) -> None:
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    report, f = moderate
    signal = json.loads((report.root / "_seed.json").read_text())["signal"]
    x = session_features(f)
    logit = (signal["intercept"]
             + signal["log1p_product_views_prior_7d"] * np.log1p(x.prior_views)
             + signal["log1p_product_views_in_session"] * np.log1p(x.session_views)
             + signal["log_mean_price_ratio"] * x.log_price_ratio
             + x.device.map(signal["device_effect"]) + x.country.map(signal["country_effect"]))
    p = np.where(x.session_views > 0, 1 / (1 + np.exp(-logit)), 0.0)
    # Not exact: float rounding can reorder a pair of near-equal probabilities.
    assert sklearn_metrics.roc_auc_score(x.purchased, p) == pytest.approx(report.bayes_auc, abs=1e-6)
    assert 0.75 <= report.bayes_auc <= 0.85
    assert 0.03 <= x.purchased.mean() <= 0.08


def test_signal_is_learnable_from_session_features(moderate) -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    from sklearn.metrics import roc_auc_score

    report, f = moderate
    x = session_features(f)
    design = pd.concat([
        np.log1p(x[["prior_views", "session_views"]]), x[["log_price_ratio"]],
        pd.get_dummies(x[["device", "country"]], dtype=float),
    ], axis=1)
    train = (x.user_id.str[1:].astype(int) % 2 == 0).to_numpy()
    model = linear_model.LogisticRegression(max_iter=2000).fit(design[train], x.purchased[train])
    auc = roc_auc_score(x.purchased[~train], model.predict_proba(design[~train])[:, 1])
    assert abs(auc - report.bayes_auc) < 0.05, (auc, report.bayes_auc)


def test_user_day_label_is_predictable_from_prior_views_device_and_country(moderate) -> None:
    linear_model = pytest.importorskip("sklearn.linear_model")
    from sklearn.metrics import roc_auc_score

    report, f = moderate
    users, events = f["users"], f["events"]
    days = [report.start + timedelta(days=i) for i in range(7, 10)]  # a full 7-day history
    views = events[events.event_type == "product_view"].copy()
    views["day"] = pd.to_datetime(views.ds).dt.date
    rows = []
    for d in days:
        seen = views[(views.day >= d - timedelta(days=7)) & (views.day < d)].groupby("user_id").size()
        bought = set(events[(events.ds == d.isoformat()) & (events.event_type == "purchase")].user_id)
        active = users[users.signup_date <= d]
        rows.append(pd.DataFrame({
            "user_id": active.user_id, "device": active.device, "country": active.country,
            "prior_views": active.user_id.map(seen).fillna(0).to_numpy(),
            "purchased": active.user_id.isin(bought).astype(int).to_numpy()}))
    table = pd.concat(rows, ignore_index=True)
    design = pd.concat([np.log1p(table[["prior_views"]]),
                        pd.get_dummies(table[["device", "country"]], dtype=float)], axis=1)
    train = (table.user_id.str[1:].astype(int) % 2 == 0).to_numpy()
    model = linear_model.LogisticRegression(max_iter=2000).fit(design[train], table.purchased[train])
    auc = roc_auc_score(table.purchased[~train], model.predict_proba(design[~train])[:, 1])
    assert auc > 0.75, auc
