"""The hub's Kubernetes configuration: every KubeSpawner setting is one KubeSpawner has, of a type it accepts."""

from __future__ import annotations

from pathlib import Path

import pytest
from traitlets.config import Config

from mlplat.config import Settings, load_settings
from mlplat.errors import ConfigError
from mlplat.services.hub import configure


def _settings(tmp_path: Path, spawner: str) -> Settings:
    s = load_settings(env={}, home=tmp_path / "home", hub_spawner=spawner, hub_image="registry.example/nb:7",
                      hub_db_url="postgresql+psycopg://hub@db.example:5432/hub")
    s.secrets_dir.mkdir(parents=True)
    for name in ("api_token", "culler_token", "proxy_token"):
        (s.secrets_dir / name).write_text("x" * 32)
    return s


def test_kubernetes_spawner_settings_are_kubespawners_own(tmp_path: Path) -> None:
    from kubespawner import KubeSpawner

    c = Config()
    configure(c, _settings(tmp_path, "kubernetes"))
    assert c.JupyterHub.spawner_class == "kubespawner.KubeSpawner"
    assert c.JupyterHub.db_url.startswith("postgresql+psycopg://") and c.JupyterHub.cleanup_servers is False
    traits = KubeSpawner.class_traits()
    spawner = KubeSpawner.__new__(KubeSpawner)  # a bare instance: trait validation only, no Kubernetes client
    given = dict(c.KubeSpawner)
    assert {"image", "profile_list", "cpu_limit", "mem_limit", "environment", "volumes"} <= set(given)
    for name, value in given.items():
        assert name in traits, f"KubeSpawner has no setting {name}"
        traits[name].validate(spawner, value)  # raises TraitError on a wrong type
    for profile in given["profile_list"]:
        for name, value in profile.get("kubespawner_override", {}).items():
            assert name in traits, f"profile {profile['slug']}: KubeSpawner has no setting {name}"
            traits[name].validate(spawner, value)
    assert given["image"] == "registry.example/nb:7"
    env = given["environment"]
    assert env["MLPLAT_HUB_SPAWNER"] == "kubernetes" and "PATH" not in env  # the image's PATH, not this machine's
    assert "--ServerApp.jpserver_extensions=mlplat.services.lab_proxy=True" in given["args"]


def test_local_spawner_unchanged_and_an_unknown_one_refused(tmp_path: Path) -> None:
    c = Config()
    configure(c, _settings(tmp_path / "a", "local"))
    assert c.JupyterHub.spawner_class == "simple" and "KubeSpawner" not in c
    with pytest.raises(ConfigError, match="hub_spawner must be local or kubernetes"):
        configure(Config(), _settings(tmp_path / "b", "docker"))
