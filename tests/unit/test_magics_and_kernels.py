import json
import sys

from mlplat.kernels import install_kernels


def test_status_renders_a_table_of_components(shell) -> None:
    result = shell.run_cell("%mlplat status")
    assert result.success
    table = result.result
    assert [row[0] for row in table.rows] == ["redis", "mlflow", "hub", "api", "inference", "mlflow-proxy", "scheduler",
                                           "streams", "monitoring", "dashboards"]
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


def test_schedule_this_notebook_and_see_its_runs(shell, tmp_path) -> None:
    import nbformat

    from mlplat.identity import Identity

    nb = tmp_path / "report.ipynb"
    nbformat.write(nbformat.v4.new_notebook(), nb)
    shell.user_ns["__session__"] = str(nb)  # what JupyterLab tells the kernel
    out = shell.run_cell("%schedule create nightly --cron '0 3 * * *' --team growth --param 'title=a b' --param n=3")
    assert out.success, out.error_in_exec
    assert out.result.startswith(f"scheduled nightly: {nb} (0 3 * * * UTC, team growth)")
    table = shell.run_cell("%schedule list").result
    assert table.rows == [["nightly", "0 3 * * *", "growth", False, str(nb)]]
    assert "queued run" in shell.run_cell("%schedule run nightly --ds 2026-11-20").result
    runs = shell.run_cell("%schedule runs nightly").result
    assert [(str(r[1]), r[3], r[4]) for r in runs.rows] == [("2026-11-20", "queued", "manual")]
    # the job is data, with the parameters typed as given
    from mlplat.client import connect

    job = connect(user=Identity("alice", teams=("growth",))).jobs.show("nightly")
    assert job.to_dict()["parameters"] == {"title": "a b", "n": 3}
    assert not shell.run_cell("%schedule create other --team growth --cron 'every day'").success  # bad cron
    from mlplat_magics.widgets import JobsPanel

    panel = JobsPanel(connect(user=Identity("alice", teams=("growth",))))
    assert panel.jobs.options == (("nightly (0 3 * * *)", "nightly"),)
    panel.jobs.value = "nightly"
    assert "2026-11-20" in panel.runs.value and ">queued<" in panel.runs.value
    assert shell.run_cell("%schedule panel").success
    del shell.user_ns["__session__"]
    orphan = shell.run_cell("%schedule create orphan --team growth")
    assert "cannot tell which notebook this is: pass --notebook PATH" in str(orphan.error_in_exec)
