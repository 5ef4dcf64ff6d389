"""Stack profiles without services: what each profile starts, where it puts Online Serving, how a home remembers it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplat.config import PROFILES, load_settings
from mlplat.errors import ConfigError, NotFoundError, StackError, ValidationError
from mlplat.features.online.redis_layout import cluster_seeds
from mlplat.stack import profiles, start_only
from mlplat.stack.components import components
from mlplat.stack.redis_cluster import BUS_OFFSET


def test_the_default_profile_is_unchanged(tmp_path: Path) -> None:
    s = load_settings(env={}, home=tmp_path)
    assert s.profile == "default"
    assert s.online_store == s.message_redis == s.stream_source == f"redis://127.0.0.1:{s.redis_port}/0"
    assert [c.name for c in components(s)][:2] == ["redis", "mlflow"]


def test_the_cluster_profile_puts_online_serving_on_six_nodes_and_messages_on_the_stack_redis(tmp_path: Path) -> None:
    s = load_settings(env={"MLPLAT_PROFILE": "cluster", "MLPLAT_REDIS_CLUSTER_PORT": "7100"}, home=tmp_path)
    nodes = ",".join(f"127.0.0.1:{7100 + i}" for i in range(6))
    assert s.online_store == f"redis+cluster://{nodes}/0"
    assert s.message_redis == s.stream_source == f"redis://127.0.0.1:{s.redis_port}/0"
    by_name = {c.name: c for c in components(s)}
    assert list(by_name)[:6] == ["redis", "redis-cluster", "spark-cluster", "spark-connect", "s3", "mlflow"]
    cluster = by_name["redis-cluster"]
    assert cluster.url == s.online_store and cluster.ports == ("redis_cluster_port",)
    assert set(cluster.more_ports) == {*range(7101, 7106), *range(7100 + BUS_OFFSET, 7106 + BUS_OFFSET)}
    assert by_name["redis"].url == s.message_redis  # the stack's redis-server still runs, for messages
    assert "--node-timeout" in cluster.command and str(s.redis_cluster_node_timeout) in cluster.command
    # the hub's services get the profile with the rest of the settings
    assert by_name["hub"].env["MLPLAT_PROFILE"] == "cluster"


def test_the_cluster_profiles_work_goes_to_its_engines_unless_the_settings_name_others(tmp_path: Path) -> None:
    s = load_settings(env={}, home=tmp_path, profile="cluster")
    on = profiles.effective(s)
    assert on.spark_master == s.spark_cluster_master and on.s3_endpoint_url.endswith(f":{s.s3_port}")
    assert profiles.effective(s.replace(spark_master="yarn")).spark_master == "yarn"
    plain = load_settings(env={}, home=tmp_path)
    assert profiles.effective(plain) == plain


def test_an_online_store_url_of_ones_own_replaces_the_profiles_cluster(tmp_path: Path) -> None:
    s = load_settings(env={}, home=tmp_path, profile="cluster", online_store_url="redis+cluster://10.0.0.5:7000/0")
    assert s.online_store == s.message_redis == "redis+cluster://10.0.0.5:7000/0"
    assert "redis-cluster" not in [c.name for c in components(s)]


def test_an_unknown_profile_is_refused_with_the_choices(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown profile 'big': choose one of default, cluster"):
        load_settings(env={"MLPLAT_PROFILE": "big"}, home=tmp_path)
    assert set(profiles.PROFILE_COMPONENTS) == set(PROFILES)


def test_a_home_remembers_the_profile_up_started_below_every_other_source(tmp_path: Path) -> None:
    s = load_settings(env={}, home=tmp_path, profile="cluster")
    profiles.record(s)
    assert load_settings(env={}, home=tmp_path).profile == "cluster"
    assert load_settings(env={"MLPLAT_PROFILE": "default"}, home=tmp_path).profile == "default"
    profiles.forget(s)
    assert load_settings(env={}, home=tmp_path).profile == "default"


def test_another_profile_over_a_running_stack_is_refused(tmp_path: Path) -> None:
    running = load_settings(env={}, home=tmp_path)
    profiles.record(running)
    wanted = running.replace(profile="cluster")
    with pytest.raises(StackError, match="runs the 'default' profile: run `mlplat down` first"):
        profiles.check_switch(wanted, anything_running=True)
    profiles.check_switch(wanted, anything_running=False)  # nothing running: any profile may start
    profiles.check_switch(running, anything_running=True)  # the same profile again: `up` is idempotent


def test_start_only_names_what_the_profile_starts(tmp_path: Path) -> None:
    s = load_settings(env={}, home=tmp_path)
    with pytest.raises(NotFoundError, match="the 'default' profile starts no component redis-cluster; it starts: "
                                            "redis, mlflow, hub"):
        start_only(s, ["redis-cluster"])


def test_the_cluster_ports_must_leave_room_for_the_bus(tmp_path: Path) -> None:
    s = load_settings(env={}, home=tmp_path, profile="cluster", redis_cluster_port=60000)
    with pytest.raises(StackError, match="redis_cluster_port 60000 is too high"):
        components(s)


def test_cluster_urls_may_name_several_nodes() -> None:
    assert cluster_seeds("redis://h1:7000/0") == ("redis://h1:7000/0", [])
    first, seeds = cluster_seeds("redis://u:pw@h1:7000,h2:7001,h3:7002/0")
    assert first == "redis://u:pw@h1:7000/0" and seeds == [("h1", 7000), ("h2", 7001), ("h3", 7002)]
    with pytest.raises(ValidationError, match="write each node as host:port"):
        cluster_seeds("redis://:secret@h1:7000,h2/0")
    try:
        cluster_seeds("redis://:secret@h1:7000,h2/0")
    except ValidationError as exc:
        assert "secret" not in exc.message
