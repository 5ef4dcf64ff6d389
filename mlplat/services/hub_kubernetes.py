"""The hub on Kubernetes: KubeSpawner in place of the local process spawner (``hub_spawner = "kubernetes"``).

Everything else of ``hub.configure`` stays: the accounts, the roles, the
platform's services, the token scopes. What changes is where a user's server
runs (a pod from ``hub_image``, one per user, in ``hub_namespace``) and what it
may take. The sizes are the capacity plan's (docs/scale.md, "Notebooks"): a
notebook's default is 0.5 CPU guaranteed and 4 at most, 4 GiB guaranteed and
16 GiB at most (most sessions idle between cells; the Spark work runs on the
cluster, not in the pod); a heavier profile for a local Spark driver and one
with a GPU for the deep-learning chapter. Homes live on a persistent volume
per user, so a culled server loses nothing.

The hub itself keeps its state in PostgreSQL (``hub_db_url``) and does not
stop users' pods when it restarts (``cleanup_servers = False``): an upgrade of
the hub must not end every user's session.
"""

from __future__ import annotations

from typing import Any

from mlplat.config import Settings

NOTEBOOK = {"cpu_guarantee": 0.5, "cpu_limit": 4.0, "mem_guarantee": "4G", "mem_limit": "16G"}
PROFILES: list[dict[str, Any]] = [
    {"display_name": "Notebook (up to 4 CPU, 16 GB)", "slug": "notebook", "default": True,
     "description": "Features, training and deploys; Spark work runs on the cluster.",
     "kubespawner_override": dict(NOTEBOOK)},
    {"display_name": "Local Spark driver (8 CPU, 32 GB)", "slug": "spark-driver",
     "description": "A Spark driver in the pod itself (collecting large results, local[*] experiments).",
     "kubespawner_override": {"cpu_guarantee": 4.0, "cpu_limit": 8.0, "mem_guarantee": "24G", "mem_limit": "32G"}},
    {"display_name": "GPU (1 GPU, 8 CPU, 64 GB)", "slug": "gpu",
     "description": "Deep-learning models (chapter 8) on one GPU.",
     "kubespawner_override": {"cpu_guarantee": 4.0, "cpu_limit": 8.0, "mem_guarantee": "32G", "mem_limit": "64G",
                              "extra_resource_limits": {"nvidia.com/gpu": "1"},
                              "node_selector": {"mlplat.io/node-pool": "gpu"}}},
]


def configure_kubernetes(c: Any, settings: Settings, environment: dict[str, str], args: list[str]) -> None:
    """Switch ``c`` (already filled by ``hub.configure``) to KubeSpawner; ``environment`` and ``args`` are what
    the local spawner passes a user's server."""
    c.JupyterHub.spawner_class = "kubespawner.KubeSpawner"
    c.JupyterHub.cleanup_servers = False
    # The hub listens on every interface of its pod; user pods reach it through its Kubernetes service.
    c.JupyterHub.hub_bind_url = f"http://0.0.0.0:{settings.hub_api_port}"
    c.JupyterHub.hub_connect_url = f"http://hub.{settings.hub_namespace}.svc:{settings.hub_api_port}"

    k = c.KubeSpawner
    k.image = settings.hub_image
    k.image_pull_policy = "IfNotPresent"
    k.namespace = settings.hub_namespace
    k.service_account = "mlplat-user"
    for name, value in NOTEBOOK.items():
        setattr(k, name, value)
    k.profile_list = PROFILES
    # The image's own Python and PATH: the local spawner's paths do not exist in the pod.
    k.cmd = ["jupyterhub-singleuser"]
    k.args = args
    k.environment = {key: value for key, value in environment.items() if key not in ("PATH", "JUPYTER_PATH")}
    k.default_url = "/lab"
    k.start_timeout = 300  # pulling a multi-GB image onto a fresh node
    k.http_timeout = 120
    k.storage_pvc_ensure = True
    k.pvc_name_template = "home-{username}"
    k.storage_capacity = "20Gi"
    k.volumes = [{"name": "home", "persistentVolumeClaim": {"claimName": "home-{username}"}}]
    k.volume_mounts = [{"name": "home", "mountPath": "/home/jovyan"}]


__all__ = ["NOTEBOOK", "PROFILES", "configure_kubernetes"]
