"""The lake catalog and the in-process client, with the authorization rule."""

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlplat.client import connect
from mlplat.errors import NotFoundError, PermissionDenied, ValidationError
from mlplat.identity import Identity


def write_table(root: Path) -> Path:
    (root / "ds=2026-01-01").mkdir(parents=True)
    pq.write_table(pa.table({"user_id": ["u1", "u2"], "clicks": [3, 4]}), root / "ds=2026-01-01" / "p.parquet")
    return root


def test_register_find_and_did_you_mean(settings, tmp_path) -> None:
    path = write_table(tmp_path / "clicks")
    with connect(settings=settings) as client:
        assert client.mode == "in-process"
        info = client.register_table("clicks", str(path), team="growth", description="raw clicks")
        assert info.url == path.as_uri() and info.format == "parquet" and info.partition_by == ["ds"]
        assert info.created_by == "admin"
        assert [t.name for t in client.lake_tables()] == ["clicks"]
        with pytest.raises(NotFoundError, match="did you mean 'clicks'"):
            client.lake_table("click")
        with pytest.raises(ValidationError, match="does not exist"):
            client.register_table("other", str(tmp_path / "missing"), team="growth")
        with pytest.raises(ValidationError, match="table name 'bad name' is not valid"):
            client.register_table("bad name", str(path), team="growth")
        with pytest.raises(ValidationError, match="unsupported URL scheme 'ftp'"):
            client.register_table("remote", "ftp://host/x", team="growth")
        csv = tmp_path / "t.csv"
        csv.write_text("a,b\n1,2\n")
        assert client.register_table("t", str(csv), team="growth").format == "csv"
        assert client.register_table("s3t", "s3a://bucket/lake/t", team="growth").url == "s3a://bucket/lake/t"


def test_only_the_owner_team_changes_a_table(settings, tmp_path) -> None:
    path = write_table(tmp_path / "clicks")
    alice = Identity("alice", teams=("growth",))
    bob = Identity("bob", teams=("ads",))
    with connect(settings=settings, user=alice) as client:
        assert client.whoami() == alice
        client.register_table("clicks", str(path), team="growth")
        with pytest.raises(PermissionDenied, match="belongs to team 'ads' and alice is in growth"):
            client.register_table("ads_clicks", str(path), team="ads")
    with connect(settings=settings, user=bob) as client:
        assert client.lake_table("clicks").team == "growth"  # everyone reads
        with pytest.raises(PermissionDenied, match="bob may not change lake table 'clicks'"):
            client.register_table("clicks", str(path), team="ads")
        with pytest.raises(PermissionDenied, match="only an admin may seed the lake"):
            client.seed_lake(users=10, days=1)
        with pytest.raises(PermissionDenied, match="only an admin may add users"):
            client.add_user("carol")


def test_token_selects_the_http_transport(settings, monkeypatch) -> None:
    monkeypatch.setenv("JUPYTERHUB_API_TOKEN", "abc")
    client = connect(settings=settings)
    assert client.mode == "http"
    assert client.transport.base_url == settings.api
    client.close()
    assert connect(settings=settings, user=Identity("x")).mode == "in-process"
