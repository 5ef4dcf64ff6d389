import json
import sys

import pytest
from IPython.core.interactiveshell import InteractiveShell

from mlplat.kernels import install_kernels


@pytest.fixture
def shell(settings, monkeypatch):
    for key, value in settings.as_env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    monkeypatch.delenv("MLPLAT_TOKEN", raising=False)
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "mlplat_magics")
    yield sh
    sh.run_line_magic("unload_ext", "mlplat_magics")
    InteractiveShell.clear_instance()


def test_status_renders_a_table_of_components(shell) -> None:
    result = shell.run_cell("%mlplat status")
    assert result.success
    table = result.result
    assert [row[0] for row in table.rows] == ["redis", "mlflow", "hub", "api", "scheduler"]
    assert all(row[1] is False for row in table.rows)  # nothing is running in this home
    assert "&#10008; no" in table._repr_html_()
    assert "NO" in repr(table)


def test_whoami_in_process_is_the_local_admin(shell) -> None:
    assert shell.run_cell("%mlplat whoami").result.rows == [["admin", "-", True]]


def test_errors_are_one_line_and_fail_the_cell(shell, capsys) -> None:
    result = shell.run_cell("%mlplat frobnicate")
    assert not result.success
    assert "unknown command 'frobnicate'; one of: status, whoami, tables" in str(result.error_in_exec)
    out = capsys.readouterr()
    assert "mlplat: unknown command" in out.out + out.err
    assert "Traceback" not in out.out + out.err
    assert not shell.run_cell("%mlplat tables --bogus").success


def test_kernel_specs_preload_the_magics_and_the_configuration(settings, tmp_path) -> None:
    paths = install_kernels(tmp_path / "kernels", settings)
    assert [p.name for p in paths] == ["mlplat", "mlplat-pyspark"]
    spec = json.loads((tmp_path / "kernels" / "mlplat" / "kernel.json").read_text())
    assert spec["display_name"] == "Python (mlplat)"
    assert spec["argv"][0] == sys.executable
    assert "--IPKernelApp.extra_extensions=mlplat_magics" in spec["argv"]
    assert spec["env"]["MLPLAT_HOME"] == str(settings.home)
    pyspark = json.loads((tmp_path / "kernels" / "mlplat-pyspark" / "kernel.json").read_text())
    assert any("spark_session" in a for a in pyspark["argv"])
