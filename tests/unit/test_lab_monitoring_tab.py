"""The JupyterLab Monitoring tab reads the platform API's real answers: every field, query and link it uses exists.

The tab (lab_extension/src/tabs/monitoring.ts) was first written before the monitoring routes; a field it reads
that the answer lacks shows as a blank cell, not an error. So the fields of its two interfaces are checked
against the response schemas of the routes it calls, its query parameters against the routes' own, and its
dashboard links against the dashboards service's routes.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

from mlplat.services.api.schemas.monitoring import Alert, ModelOverview

ROOT = Path(__file__).resolve().parents[2]
TAB = (ROOT / "lab_extension" / "src" / "tabs" / "monitoring.ts").read_text()


def interface(name: str) -> set[str]:
    """The field names of a TypeScript interface in the tab."""
    found = re.search(r"export interface " + name + r" \{(.*?)\n\}", TAB, re.S)
    assert found, f"interface {name} not found in monitoring.ts"
    return set(re.findall(r"^\s+(\w+)\??:", found.group(1), re.M))


def read_fields(var: str) -> set[str]:
    """The fields the tab reads from ``var`` (``m.model``, ``a.opened_hour``, ...)."""
    return set(re.findall(r"\b" + var + r"\.(\w+)", TAB))


def test_the_models_table_reads_only_fields_of_the_model_overview_answer() -> None:
    fields = set(ModelOverview.model_fields)
    assert interface("IModelOverview") <= fields, interface("IModelOverview") - fields
    assert read_fields("m") <= interface("IModelOverview"), read_fields("m") - interface("IModelOverview")
    assert {"model", "last_hour", "last_count", "drifted", "open_alerts"} <= read_fields("m")


def test_the_alerts_table_reads_only_fields_of_the_alert_answer() -> None:
    fields = set(Alert.model_fields)
    assert interface("IAlert") <= fields, interface("IAlert") - fields
    assert read_fields("a") <= interface("IAlert"), read_fields("a") - interface("IAlert")
    assert {"model", "figure", "message", "opened_hour"} <= read_fields("a")


def test_the_routes_and_query_parameters_it_calls_exist() -> None:
    from mlplat.monitoring.service import MonitoringService
    from mlplat.services.api import monitoring as routes

    source = inspect.getsource(routes)
    for path in re.findall(r"get\('(/v1/monitoring/[^']+)'", TAB):
        assert f'"{path.removeprefix("/v1/monitoring")}"' in source, path
    queries = re.findall(r"get\('/v1/monitoring/alerts', \{ (\w+):", TAB)
    assert queries == ["state"]
    assert "state" in inspect.signature(MonitoringService.alerts).parameters


def test_its_dashboard_links_are_the_routes_the_dashboards_door_serves() -> None:
    from mlplat.services import dashboards

    source = inspect.getsource(dashboards)
    assert "DASHBOARDS = 'dashboards/'" in TAB and dashboards.PREFIX == "/services/dashboards/"
    assert "`${dashboards()}models/${encodeURIComponent(model)}`" in TAB
    assert 'PREFIX + r"models/([^/]+)/?"' in source
    assert "voila/render" not in TAB  # the door refuses Voila's render routes: pages only through its own two
