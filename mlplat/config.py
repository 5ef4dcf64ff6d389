"""Typed settings, read once at the entry point.

Precedence, highest first: an explicit argument, an ``MLPLAT_<FIELD>``
environment variable, the ``mlplat.toml`` file, the profile the home's running
stack was started with (``run/profile``, ``profile`` only), the default. Every location
(lake, metadata database, online store, MLflow tracking, Spark) is a URL so the
same code runs on one machine and on a cluster by configuration alone.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mlplat.errors import ConfigError

ENV_PREFIX = "MLPLAT_"
REPO_ROOT = Path(__file__).resolve().parent.parent
# Stack profiles (``mlplat up --profile NAME``): the components each adds live in mlplat/stack/profiles.py.
PROFILES = ("default", "cluster")
# Where `mlplat up --profile` records the profile it started, so every later command on the home uses it.
PROFILE_FILE = Path("run") / "profile"
REDIS_CLUSTER_NODES = 6  # the cluster profile's Redis Cluster: 3 masters, a replica each


@dataclass(frozen=True)
class Settings:
    """Where everything lives and how the local stack listens.

    Empty URLs mean "the embedded default under ``home``"; use the resolved
    properties (``lake``, ``metadata``, ...) rather than the raw fields.
    """

    home: Path = field(default_factory=lambda: Path.home() / ".mlplat")
    host: str = "127.0.0.1"
    lake_url: str = ""
    metadata_url: str = ""
    online_store_url: str = ""
    mlflow_tracking_uri: str = ""
    # The embedded stack's own databases (empty: SQLite files under home). mlplat/stack/postgres.py puts them all
    # on one PostgreSQL server (postgres_server_url) for the cluster profile, or set each here.
    mlflow_backend_store_url: str = ""
    mlflow_auth_db_url: str = ""
    hub_db_url: str = ""
    postgres_server_url: str = ""
    # Where users' servers run: "local" (a process per user, this machine) or "kubernetes" (KubeSpawner, a pod per
    # user from hub_image in hub_namespace: mlplat/services/hub_kubernetes.py).
    hub_spawner: str = "local"
    hub_image: str = "mlplat/notebook:latest"
    hub_namespace: str = "mlplat"
    spark_master: str = "local[*]"
    spark_remote: str = ""
    spark_ui: bool = False
    spark_shuffle_partitions: int = 8
    spark_driver_memory: str = "4g"
    # MLflow's INFO lines and the Spark driver's console output where the work runs (a notebook's cells, the CLI);
    # off, MLflow says warnings only in notebooks and Spark's driver writes to logs/spark-driver.log.
    library_logs: bool = False
    hub_port: int = 8800
    hub_api_port: int = 8801
    proxy_api_port: int = 8802
    api_port: int = 8810
    mlflow_port: int = 8820
    mlflow_proxy_port: int = 8821  # the hub's MLflow service (users read MLflow through /services/mlflow/)
    redis_port: int = 6390
    # The stack profile: "default", or "cluster" (a Redis Cluster for Online Serving; mlplat/stack/profiles.py).
    profile: str = "default"
    redis_cluster_port: int = 6400  # the cluster profile's six Redis nodes listen here and on the next five ports
    redis_cluster_node_timeout: int = 2000  # ms a node may be silent before its replica takes over
    inference_port: int = 8830
    api_url: str = ""
    hub_url: str = ""
    proxy_command: str = ""
    cull_idle_seconds: int = 3600
    start_timeout: float = 120.0
    http_timeout: float = 10.0
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "mlplat@localhost"
    scheduler_workers: int = 2
    spark_train_rows: int = 5_000_000  # example sets with more rows train on Spark (xgboost.spark)
    inference_url: str = ""
    inference_workers: int = 2
    inference_store_timeout: float = 0.5  # seconds an Online Serving read may take before a request gets 503
    inference_max_body: int = 1_000_000  # bytes; larger requests get 413
    deploy_wait_seconds: float = 30.0  # a deploy returns once every inference worker serves it, or fails after this
    # Streaming sets read this stream server: empty is the platform's own Redis (Streams); kafka://host:9092,...
    # at scale.
    stream_source_url: str = ""
    stream_partitions: int = 2  # Spark tasks reading one micro-batch of a Redis stream
    stream_alert_webhook: str = ""  # also POST a JSON notice here when a stream's lag passes its set's lag_alert
    dashboards_port: int = 8840  # the hub's Voila service: monitoring dashboards behind the hub's login
    monitoring_interval_seconds: float = 60.0  # between the Monitoring Service's passes over the prediction log
    monitoring_grace_seconds: float = 120.0  # an hour is processed this long after it ends (writers' last flush)
    # The cluster profile's Spark (mlplat/stack/spark_cluster.py, spark_connect.py): a standalone master and its
    # workers on loopback, and a Spark Connect server in front of them. spark_master/spark_remote point at them.
    spark_cluster_port: int = 7180
    spark_cluster_webui_port: int = 8180
    spark_cluster_workers: int = 2
    spark_worker_cores: int = 1
    spark_worker_memory: str = "1g"
    spark_connect_port: int = 15102
    # Maven coordinates Spark fetches at start (spark.jars.packages), e.g. hadoop-aws for an s3a:// lake.
    spark_jars_packages: str = ""
    # The cluster profile's S3 API on loopback (moto, mlplat/stack/object_store.py) listens on s3_port;
    # s3_endpoint_url sends the platform's S3 clients there (empty: AWS's own endpoints, credentials from the usual
    # AWS variables and files).
    s3_port: int = 8860
    s3_endpoint_url: str = ""
    # Where the stack's MLflow server keeps artifacts (served to clients through it): empty is home/mlflow/artifacts;
    # s3://bucket/prefix at scale (MLflow reaches it with MLFLOW_S3_ENDPOINT_URL and the AWS variables).
    mlflow_artifacts_url: str = ""
    # Livy, for sites that run Spark behind it: `mlplat kernels install --sparkmagic` writes sparkmagic's config.
    livy_url: str = ""
    livy_auth: str = "None"  # sparkmagic's: None, Kerberos or Basic_Access (password: $LIVY_PASSWORD, not a setting)
    livy_user: str = ""

    # -- resolved locations -------------------------------------------------
    @property
    def lake(self) -> str:
        return self.lake_url or (self.home / "lake").as_uri()

    @property
    def metadata(self) -> str:
        return self.metadata_url or f"sqlite:///{self.home / 'metadata.db'}"

    @property
    def mlflow_backend_store(self) -> str:
        return self.mlflow_backend_store_url or f"sqlite:///{self.home / 'mlflow' / 'mlflow.db'}"

    @property
    def mlflow_auth_db(self) -> str:
        return self.mlflow_auth_db_url or f"sqlite:///{self.home / 'mlflow' / 'auth.db'}"

    @property
    def hub_db(self) -> str:
        return self.hub_db_url or f"sqlite:///{self.home / 'hub' / 'jupyterhub.sqlite'}"

    @property
    def online_store(self) -> str:
        if self.online_store_url:
            return self.online_store_url
        if self.embedded_redis_cluster:  # every node: a client still finds the cluster when one is down
            nodes = ",".join(f"{self.host}:{self.redis_cluster_port + i}" for i in range(REDIS_CLUSTER_NODES))
            return f"redis+cluster://{nodes}/0"
        return self.local_redis

    @property
    def local_redis(self) -> str:
        """The redis-server `mlplat up` starts (whatever the profile)."""
        return f"redis://{self.host}:{self.redis_port}/0"

    @property
    def message_redis(self) -> str:
        """The Redis for messages and small shared state (experiment changes, streams, sticky arms).

        Online Serving's own, unless that is the cluster profile's Redis Cluster: those uses take one
        plain connection (pub/sub, stream offsets), so they stay on the stack's redis-server.
        """
        return self.local_redis if self.embedded_redis_cluster else self.online_store

    @property
    def stream_source(self) -> str:
        return self.stream_source_url or self.message_redis

    @property
    def embedded_redis(self) -> bool:
        return not self.online_store_url

    @property
    def embedded_redis_cluster(self) -> bool:
        """The cluster profile's Redis Cluster serves Online Serving (no online_store_url names another)."""
        return self.profile == "cluster" and not self.online_store_url

    @property
    def mlflow(self) -> str:
        return self.mlflow_tracking_uri or f"http://{self.host}:{self.mlflow_port}"

    @property
    def embedded_mlflow(self) -> bool:
        return not self.mlflow_tracking_uri

    @property
    def spark_cluster_master(self) -> str:
        """The cluster profile's standalone master (what ``spark_master`` names when jobs run on it)."""
        return f"spark://{self.host}:{self.spark_cluster_port}"

    @property
    def spark_connect(self) -> str:
        """The cluster profile's Spark Connect server (what ``spark_remote`` names when work goes through it)."""
        return f"sc://{self.host}:{self.spark_connect_port}"

    @property
    def api(self) -> str:
        return (self.api_url or f"http://{self.host}:{self.api_port}").rstrip("/")

    @property
    def inference(self) -> str:
        return (self.inference_url or f"http://{self.host}:{self.inference_port}").rstrip("/")

    @property
    def hub(self) -> str:
        return (self.hub_url or f"http://{self.host}:{self.hub_port}").rstrip("/")

    @property
    def hub_api(self) -> str:
        return f"http://{self.host}:{self.hub_api_port}/hub/api"

    @property
    def run_dir(self) -> Path:
        return self.home / "run"

    @property
    def log_dir(self) -> Path:
        return self.home / "logs"

    @property
    def secrets_dir(self) -> Path:
        return self.home / "secrets"

    def replace(self, **changes: Any) -> "Settings":
        return dataclasses.replace(self, **changes)

    def as_env(self) -> dict[str, str]:
        """The settings as ``MLPLAT_*`` variables, for child processes."""
        env = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            env[ENV_PREFIX + f.name.upper()] = (
                ("1" if value else "0") if isinstance(value, bool) else str(value)
            )
        return env


PORT_SETTINGS = (
    "hub_port", "hub_api_port", "proxy_api_port", "api_port", "mlflow_port", "mlflow_proxy_port", "redis_port",
    "inference_port", "dashboards_port", "spark_cluster_port", "spark_cluster_webui_port", "spark_connect_port",
    "s3_port",
)


def _coerce(name: str, kind: Any, raw: Any, source: str) -> Any:
    if kind is Path or kind == "Path":
        return Path(str(raw)).expanduser()
    if kind is bool or kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "yes", "on"}:
            return True
        if text in {"0", "false", "no", "off", ""}:
            return False
        raise ConfigError(f"{name} from {source} must be true or false, got {raw!r}")
    if kind is int or kind == "int":
        try:
            return int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} from {source} must be an integer, got {raw!r}") from None
    if kind is float or kind == "float":
        try:
            return float(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{name} from {source} must be a number, got {raw!r}") from None
    return str(raw)


def _config_file(env: Mapping[str, str], home: Path, explicit: str | Path | None) -> Path | None:
    for candidate in (explicit, env.get(ENV_PREFIX + "CONFIG")):
        if candidate:
            path = Path(candidate).expanduser()
            if not path.exists():
                raise ConfigError(f"config file {path} does not exist")
            return path
    for path in (Path.cwd() / "mlplat.toml", home / "mlplat.toml"):
        if path.exists():
            return path
    return None


def load_settings(
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    **overrides: Any,
) -> Settings:
    """Build settings: argument > ``MLPLAT_*`` environment > ``mlplat.toml`` > default."""
    env = os.environ if env is None else env
    hints = typing.get_type_hints(Settings)
    fields = {f.name for f in dataclasses.fields(Settings)}
    unknown = set(overrides) - fields
    if unknown:
        raise ConfigError(f"unknown setting(s): {', '.join(sorted(unknown))}")

    home_raw = overrides.get("home") or env.get(ENV_PREFIX + "HOME")
    home = Path(str(home_raw)).expanduser() if home_raw else Settings().home

    values: dict[str, Any] = {}
    running = running_profile(home)
    if running:
        values["profile"] = running
    path = _config_file(env, home, config_file)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        section = data.get("mlplat", data)
        for key, raw in section.items():
            if key not in fields:
                raise ConfigError(f"{path}: unknown setting {key!r}")
            values[key] = _coerce(key, hints[key], raw, str(path))
    for name in fields:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, hints[name], raw, ENV_PREFIX + name.upper())
    for name, raw in overrides.items():
        if raw is not None:
            values[name] = _coerce(name, hints[name], raw, "argument")
    values["home"] = Path(values.get("home", home)).expanduser().resolve()
    if values.get("profile", "default") not in PROFILES:
        raise ConfigError(f"unknown profile {values['profile']!r}: choose one of {', '.join(PROFILES)}")
    return Settings(**values)


def running_profile(home: Path) -> str:
    """The profile `mlplat up --profile` started on ``home`` ("" when none): below every other source, so that
    commands after `up` reach what it started without repeating the option."""
    try:
        return (home / PROFILE_FILE).read_text().strip()
    except OSError:
        return ""


def resource_dir(name: str) -> Path:
    """A folder shipped with the project (kernels, hub_config, notebooks)."""
    for candidate in (REPO_ROOT / name, Path(__file__).resolve().parent / "_data" / name):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"the {name}/ folder is missing from this installation; reinstall mlplat")
