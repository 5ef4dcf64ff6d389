from pathlib import Path

import pytest

from mlplat.config import Settings, load_settings
from mlplat.errors import ConfigError


def test_defaults_resolve_under_home(tmp_path: Path) -> None:
    s = load_settings(env={}, home=tmp_path)
    assert s.home == tmp_path.resolve()
    assert s.lake == (tmp_path / "lake").resolve().as_uri()
    assert s.metadata == f"sqlite:///{tmp_path.resolve() / 'metadata.db'}"
    assert s.online_store == "redis://127.0.0.1:6390/0" and s.embedded_redis
    assert s.mlflow == "http://127.0.0.1:8820" and s.embedded_mlflow
    assert s.spark_master == "local[*]" and s.spark_ui is False


def test_precedence_argument_env_file_default(tmp_path: Path) -> None:
    (tmp_path / "mlplat.toml").write_text('[mlplat]\napi_port = 9001\nhub_port = 9002\nredis_port = 9003\n')
    env = {"MLPLAT_HOME": str(tmp_path), "MLPLAT_API_PORT": "9101", "MLPLAT_HUB_PORT": "9102"}
    s = load_settings(env=env, api_port=9201)
    assert s.api_port == 9201  # argument beats environment
    assert s.hub_port == 9102  # environment beats file
    assert s.redis_port == 9003  # file beats default
    assert s.mlflow_port == Settings().mlflow_port  # default


def test_home_from_environment_and_explicit_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "other.toml"
    cfg.write_text('online_store_url = "redis://cache:7000/1"\nspark_ui = true\n')
    s = load_settings(env={"MLPLAT_HOME": str(tmp_path / "h"), "MLPLAT_CONFIG": str(cfg)})
    assert s.home == (tmp_path / "h").resolve()
    assert s.online_store == "redis://cache:7000/1" and not s.embedded_redis
    assert s.spark_ui is True


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"MLPLAT_API_PORT": "eighty"}, "api_port from MLPLAT_API_PORT must be an integer"),
        ({"MLPLAT_SPARK_UI": "maybe"}, "spark_ui from MLPLAT_SPARK_UI must be true or false"),
        ({"MLPLAT_CONFIG": "/nonexistent/mlplat.toml"}, "does not exist"),
    ],
)
def test_bad_values_name_the_setting(tmp_path: Path, env: dict[str, str], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        load_settings(env={"MLPLAT_HOME": str(tmp_path), **env})


def test_unknown_keys_are_refused(tmp_path: Path) -> None:
    (tmp_path / "mlplat.toml").write_text("hubport = 1\n")
    with pytest.raises(ConfigError, match="unknown setting 'hubport'"):
        load_settings(env={"MLPLAT_HOME": str(tmp_path)})
    with pytest.raises(ConfigError, match="unknown setting"):
        load_settings(env={}, home=tmp_path, nonsense=1)
    (tmp_path / "mlplat.toml").write_text("hub_port = [\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(env={"MLPLAT_HOME": str(tmp_path)})


def test_as_env_round_trips(tmp_path: Path) -> None:
    s = load_settings(env={}, home=tmp_path, api_port=9999, spark_ui=True, lake_url="s3a://bucket/lake")
    assert load_settings(env=s.as_env()) == s
