"""sparkmagic's config.json and kernel specs, written from the settings (Livy cannot run here: the files are checked).

The keys checked are the ones sparkmagic reads: ``kernel_python_credentials``
(``url``, ``auth``, ``username``, ``password``), ``session_configs`` (Livy's
session body), ``all_errors_are_fatal``, and ``SPARKMAGIC_CONF_DIR`` in the
kernels' environment, where its kernels look for the file.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlplat import sparkmagic
from mlplat.cli import main
from mlplat.config import Settings
from mlplat.errors import ConfigError


def livy(settings: Settings, **more: object) -> Settings:
    return settings.replace(livy_url="http://livy.example.com:8998/", **more)


def test_config_carries_livy_the_spark_settings_and_fatal_errors(settings: Settings, tmp_path: Path) -> None:
    s = livy(settings, spark_driver_memory="3g", spark_shuffle_partitions=16,
             spark_jars_packages="org.apache.hadoop:hadoop-aws:3.5.0")
    path = sparkmagic.write_config(s, tmp_path / "sm")
    written = json.loads(path.read_text())
    assert path == tmp_path / "sm" / "config.json"
    assert written["kernel_python_credentials"] == {"url": "http://livy.example.com:8998", "auth": "None",
                                                    "username": "", "password": ""}
    assert written["kernel_scala_credentials"] == written["kernel_python_credentials"]
    assert written["all_errors_are_fatal"] is True
    assert written["session_configs"]["driverMemory"] == "3g"
    conf = written["session_configs"]["conf"]
    assert conf["spark.sql.shuffle.partitions"] == "16" and conf["spark.sql.session.timeZone"] == "UTC"
    assert conf["spark.jars.packages"] == "org.apache.hadoop:hadoop-aws:3.5.0"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it may hold Livy's password


def test_basic_access_takes_the_password_from_the_environment_only(settings: Settings, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    s = livy(settings, livy_auth="Basic_Access", livy_user="ana")
    monkeypatch.delenv(sparkmagic.PASSWORD_VARIABLE, raising=False)
    with pytest.raises(ConfigError, match=r"livy_user and the password in \$LIVY_PASSWORD"):
        sparkmagic.config(s)
    monkeypatch.setenv(sparkmagic.PASSWORD_VARIABLE, "s3cret")
    creds = sparkmagic.config(s)["kernel_python_credentials"]
    assert (creds["auth"], creds["username"], creds["password"]) == ("Basic_Access", "ana", "s3cret")
    assert "s3cret" not in json.dumps(s.as_env())  # never a setting, so never in a kernel's environment


@pytest.mark.parametrize(("changes", "message"), [
    ({}, "no Livy server is configured: set livy_url"),
    ({"livy_url": "livy:8998"}, r"is not an http\(s\) URL"),
    ({"livy_url": "http://livy:8998", "livy_auth": "kerberos"}, "not one of sparkmagic's: None, Kerberos"),
])
def test_bad_livy_settings_say_what_to_set(settings: Settings, changes: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        sparkmagic.config(settings.replace(**changes))


def test_kernels_start_sparkmagic_on_the_written_config(settings: Settings, tmp_path: Path) -> None:
    paths = sparkmagic.install_kernels(tmp_path / "kernels", livy(settings), tmp_path / "sm", python="/py")
    assert [p.name for p in paths] == ["mlplat-livy-pyspark", "mlplat-livy-spark"]
    spec = json.loads((tmp_path / "kernels" / "mlplat-livy-pyspark" / "kernel.json").read_text())
    assert spec["argv"] == ["/py", "-m", "sparkmagic.kernels.pysparkkernel.pysparkkernel", "-f", "{connection_file}"]
    assert spec["env"] == {"SPARKMAGIC_CONF_DIR": str((tmp_path / "sm").resolve())}
    assert spec["language"] == "python"
    assert (tmp_path / "sm" / "config.json").is_file()


def test_cli_installs_them_or_fails_before_writing(settings: Settings, tmp_path: Path) -> None:
    runner, home = CliRunner(), ["--home", str(settings.home)]
    args = [*home, "kernels", "install", "--dir", str(tmp_path / "k"), "--sparkmagic",
            "--sparkmagic-dir", str(tmp_path / "sm")]
    failed = runner.invoke(main, args, env=settings.as_env())
    assert failed.exit_code == 78 and "set livy_url" in failed.output
    assert not (tmp_path / "k").exists() and not (tmp_path / "sm").exists()
    done = runner.invoke(main, args, env={**settings.as_env(), "MLPLAT_LIVY_URL": "http://livy:8998"})
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in (tmp_path / "k").iterdir()) == ["mlplat", "mlplat-livy-pyspark",
                                                                 "mlplat-livy-spark", "mlplat-pyspark"]
    written = json.loads((tmp_path / "sm" / "config.json").read_text())
    assert written["kernel_python_credentials"]["url"] == "http://livy:8998" and written["all_errors_are_fatal"]
    if sparkmagic.missing():
        assert "pip install sparkmagic" in done.output
    assert sys.executable in json.loads((tmp_path / "k" / "mlplat-livy-pyspark" / "kernel.json").read_text())["argv"]


def test_the_pyspark_kernel_says_where_its_spark_runs(settings: Settings, tmp_path: Path) -> None:
    from mlplat.kernels import install_kernels

    for changes, name in (({}, "PySpark (mlplat, local)"),
                          ({"spark_master": "spark://10.0.0.5:7077"}, "PySpark (mlplat, spark://10.0.0.5:7077)"),
                          ({"spark_remote": "sc://127.0.0.1:15002"}, "PySpark (mlplat, Spark Connect sc://127.0.0.1:15002)")):
        install_kernels(tmp_path / "k", settings.replace(**changes))
        spec = json.loads((tmp_path / "k" / "mlplat-pyspark" / "kernel.json").read_text())
        assert spec["display_name"] == name
        assert spec["env"]["MLPLAT_SPARK_REMOTE"] == changes.get("spark_remote", "")
