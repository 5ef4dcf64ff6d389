"""Stack profiles: what `mlplat up --profile NAME` starts besides the default stack, and how a home remembers it.

A profile is a list of component factories (``Settings -> list[Component]``,
each like the default components: a command, its ports, a health check). The
settings a profile changes (``online_store`` on the cluster, ...) are resolved in
``mlplat.config.Settings`` from ``profile``, so every process that reads the
settings (the CLI, the hub's services, notebooks) sees the same locations.

`up` records the profile it started in ``run/profile``; ``load_settings`` reads it
back (below every other source), so `mlplat status`, `mlplat down` and every
other command on the home reach what `up` started without repeating the option.
"""

from __future__ import annotations

from collections.abc import Callable

from mlplat.config import PROFILE_FILE, PROFILES, Settings, running_profile
from mlplat.errors import StackError
from mlplat.stack import postgres, redis_cluster, scale_engines
from mlplat.stack.components import Component

ComponentFactory = Callable[[Settings], list[Component]]

# Start order within a profile.
PROFILE_COMPONENTS: dict[str, tuple[ComponentFactory, ...]] = {
    "default": (),
    "cluster": (redis_cluster.component, scale_engines.components),
}
assert set(PROFILE_COMPONENTS) == set(PROFILES), "every profile config.PROFILES names needs its components here"


def profile_components(settings: Settings) -> list[Component]:
    """The components ``settings.profile`` adds to the default stack."""
    return [c for factory in PROFILE_COMPONENTS[settings.profile] for c in factory(settings)]


def effective(settings: Settings) -> Settings:
    """``settings`` with the platform's work on the profile's engines: Online Serving's cluster is resolved by
    ``Settings`` itself; Spark jobs, S3 clients and MLflow's artifacts by ``scale_engines.settings_on_engines``,
    and the four databases by ``postgres.on_profile``, wherever the settings name no other engine. What `up`
    hands the hub's services, and the CLI its client."""
    if settings.profile != "cluster":
        return settings
    return postgres.on_profile(scale_engines.settings_on_engines(settings))


def check_switch(settings: Settings, anything_running: bool) -> None:
    """Refuse to start another profile over a running stack: its components would be left unmanaged."""
    running = running_profile(settings.home) or "default"
    if anything_running and running != settings.profile:
        raise StackError(f"this home's stack runs the {running!r} profile: run `mlplat down` first, then "
                         f"`mlplat up --profile {settings.profile}`")


def record(settings: Settings) -> None:
    path = settings.home / PROFILE_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(settings.profile + "\n")


def forget(settings: Settings) -> None:
    (settings.home / PROFILE_FILE).unlink(missing_ok=True)


__all__ = ["PROFILE_COMPONENTS", "check_switch", "effective", "forget", "profile_components", "record"]
