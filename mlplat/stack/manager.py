"""`mlplat up|down|status|logs`: start the local stack, watch it, stop it by pid.

State lives in ``$MLPLAT_HOME/run/state.json``: what this home started, with
pids, so that ``down`` stops exactly that and ``up`` twice changes nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from mlplat.accounts import ensure_admin, read_or_create_secret
from mlplat.config import Settings
from mlplat.errors import NotFoundError, PortInUse, StackError
from mlplat.metadata import Database
from mlplat.stack import mlflow_auth, postgres, profiles
from mlplat.stack.components import Component, ComponentStatus, components, merged_env, port_free

Progress = Callable[[str], None]


@dataclass(frozen=True)
class UpResult:
    started: list[str]
    already_running: list[str]
    admin_password: str | None  # only on the first `up` of a home
    status: list[ComponentStatus]


def _state_path(settings: Settings) -> Path:
    return settings.run_dir / "state.json"


def read_state(settings: Settings) -> dict[str, dict[str, object]]:
    path = _state_path(settings)
    if not path.exists():
        return {}
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {}


def _state_pid(entry: dict[str, object]) -> int | None:
    """The pid an entry of the state file records (``up`` writes an int, JSON keeps it one)."""
    pid = entry.get("pid")
    return pid if isinstance(pid, int) else None


def _write_state(settings: Settings, state: dict[str, dict[str, object]]) -> None:
    path = _state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2))
    os.replace(tmp, path)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        status: str = psutil.Process(pid).status()
        zombie: str = psutil.STATUS_ZOMBIE
        return status != zombie
    except psutil.Error:
        return False


def log_path(settings: Settings, name: str) -> Path:
    return settings.log_dir / f"{name}.log"


def log_tail(settings: Settings, name: str, lines: int = 40) -> str:
    path = log_path(settings, name)
    if not path.exists():
        raise NotFoundError(
            f"no log for {name!r} under {settings.log_dir}; "
            "components: redis, redis-cluster, mlflow, hub, api, inference, mlflow-proxy, scheduler"
        )
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - 256 * 1024))
        data = fh.read().decode(errors="replace")
    return "\n".join(data.splitlines()[-lines:])


def _prepare_home(settings: Settings) -> None:
    for sub in ("run", "logs", "secrets", "redis", "mlflow", "hub", "users", "lake", "jupyter"):
        (settings.home / sub).mkdir(parents=True, exist_ok=True)
    # The databases (account hashes, hub tokens), Redis's dump, the lake and the logs are the platform's alone:
    # other accounts on the machine get nothing from the home (docs/security.md).
    os.chmod(settings.home, 0o700)
    os.chmod(settings.secrets_dir, 0o700)
    # Hub <-> services tokens, and the Inference Service's platform token; created once, read by the hub
    # config, the services and the CLI (`mlplat status --json` shows the inference token).
    for name in ("api_token", "culler_token", "proxy_token", "inference_token"):
        read_or_create_secret(settings.secrets_dir / name)
    mlflow_auth.write_auth_config(settings)


def _ports(settings: Settings, component: Component) -> list[tuple[int, str]]:
    """``(port, the setting that chooses it)`` for every port the component listens on."""
    named = [(int(getattr(settings, setting)), setting) for setting in component.ports]
    return named + [(port, component.ports[0] if component.ports else "") for port in component.more_ports]


def _check_ports(settings: Settings, component: Component) -> None:
    for port, setting in _ports(settings, component):
        if not port_free(settings.host, port):
            raise PortInUse(
                f"port {port} on {settings.host} is in use (needed by {component.name}); "
                f"stop what holds it, or choose another with MLPLAT_{setting.upper()}=<port> "
                f"or `{setting} = <port>` in mlplat.toml",
                port=port,
                setting=setting,
            )


def _start(settings: Settings, component: Component) -> int:
    log = log_path(settings, component.name)
    log.parent.mkdir(parents=True, exist_ok=True)
    if component.cwd is not None:
        component.cwd.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        out.write(f"\n--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {component.name}\n".encode())
        out.flush()
        try:
            proc = subprocess.Popen(
                component.command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=component.cwd,
                env=merged_env(component.env),
                # Own session: no inherited SIGINT-ignore, and a group we can stop as one.
                start_new_session=True,
            )
        except FileNotFoundError:
            raise StackError(f"cannot start {component.name}: {component.command[0]} is not installed") from None
    return proc.pid


def _wait_healthy(settings: Settings, component: Component, pid: int | None, log_name: str) -> None:
    deadline = time.monotonic() + settings.start_timeout
    detail = ""
    while time.monotonic() < deadline:
        if pid is not None and not _alive(pid):
            raise StackError(
                f"{component.name} exited during start-up; last lines of {log_path(settings, log_name)}:\n"
                + _safe_tail(settings, log_name)
            )
        ok, detail = component.health()
        if ok:
            return
        time.sleep(0.25)
    raise StackError(
        f"{component.name} did not become healthy within {settings.start_timeout:.0f} s ({detail}); "
        f"last lines of {log_path(settings, log_name)}:\n" + _safe_tail(settings, log_name)
    )


def _safe_tail(settings: Settings, name: str) -> str:
    try:
        return log_tail(settings, name)
    except NotFoundError:
        return "(no log)"


def up(settings: Settings, progress: Progress | None = None) -> UpResult:
    """Start every embedded component not already running; idempotent."""
    say = progress or (lambda _msg: None)
    settings = profiles.effective(settings)  # what the hub hands its services: work on the profile's engines
    _prepare_home(settings)
    postgres.ensure(settings)  # the cluster profile's databases, before the metadata's migrations
    db = Database(settings.metadata)
    try:
        db.migrate()
        password = ensure_admin(db, settings.secrets_dir)
    finally:
        db.dispose()
    from mlplat.kernels import install_kernels, install_labextension

    install_kernels(settings.home / "jupyter" / "kernels", settings)
    install_labextension(settings.home / "jupyter" / "labextensions")

    state = read_state(settings)
    profiles.check_switch(settings, any(_alive(_state_pid(entry)) for entry in state.values()))
    started: list[str] = []
    running: list[str] = []
    pending: list[tuple[Component, int, float]] = []
    wanted = [c for c in components(settings) if c.embedded and c.managed_by == "mlplat"]
    try:
        to_start = []
        for component in wanted:
            pid = _state_pid(state.get(component.name, {}))
            if _alive(pid):
                # Ours already; if it is still starting, give it its start-up time.
                _wait_healthy(settings, component, pid, component.name)
                running.append(component.name)
            else:
                to_start.append(component)
        # Check every port (and MLflow's auth app) before starting anything, so a clash leaves nothing behind.
        for component in to_start:
            _check_ports(settings, component)
        if any(c.name == "mlflow" for c in to_start):
            mlflow_auth.require_auth_app()
        # The components do not depend on each other: start them together.
        for component in to_start:
            say(f"starting {component.name}")
            new_pid = _start(settings, component)
            state[component.name] = {"pid": new_pid, "url": component.url, "started_at": time.time()}
            _write_state(settings, state)
            started.append(component.name)
            pending.append((component, new_pid, time.monotonic()))
        for component, new_pid, t0 in pending:
            _wait_healthy(settings, component, new_pid, component.name)
            say(f"{component.name} healthy after {time.monotonic() - t0:.1f} s")
        if any(c.name == "mlflow" for c in wanted):
            mlflow_auth.ensure_reader(settings)
        for service in (c for c in components(settings) if c.managed_by == "hub"):
            _wait_healthy(settings, service, None, service.name)
        profiles.record(settings)
    except BaseException:
        if started:
            say("start-up failed; stopping what this call started")
            _stop_names(settings, started)
        raise
    return UpResult(started=started, already_running=running, admin_password=password, status=status(settings))


def start_only(settings: Settings, names: Sequence[str], progress: Progress | None = None) -> list[str]:
    """Start only the named components of the settings' profile (not yet running) and wait until they are
    healthy: for a test or a benchmark that needs one engine of a profile, with the code `up` runs, without the
    hub. `down` stops them. Returns the names started."""
    say = progress or (lambda _msg: None)
    state = read_state(settings)
    chosen = [c for c in components(settings) if c.name in names and c.embedded and c.managed_by == "mlplat"]
    unknown = sorted(set(names) - {c.name for c in chosen})
    if unknown:
        raise NotFoundError(f"the {settings.profile!r} profile starts no component {', '.join(unknown)}; "
                            f"it starts: {', '.join(c.name for c in components(settings) if c.command)}")
    started: list[str] = []
    try:
        for component in chosen:
            if _alive(_state_pid(state.get(component.name, {}))):
                continue
            _check_ports(settings, component)
            say(f"starting {component.name}")
            pid = _start(settings, component)
            state[component.name] = {"pid": pid, "url": component.url, "started_at": time.time()}
            _write_state(settings, state)
            started.append(component.name)
            _wait_healthy(settings, component, pid, component.name)
    except BaseException:
        _stop_names(settings, started)
        raise
    return started


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        children: list[psutil.Process] = psutil.Process(pid).children(recursive=True)
        return children
    except psutil.Error:
        return []


def _terminate(pid: int, timeout: float) -> None:
    """SIGTERM the process, wait, then stop whatever of its tree is left."""
    try:
        main = psutil.Process(pid)
    except psutil.Error:
        return
    tree = [main, *_descendants(pid)]
    try:
        main.terminate()
    except psutil.Error:
        pass
    psutil.wait_procs([main], timeout=timeout)
    # The hub stops its services, proxy and user servers on SIGTERM; whatever
    # survives (or was never told) is stopped here so nothing is orphaned.
    survivors = [p for p in tree if _alive(p.pid)]
    for proc in survivors:
        try:
            proc.terminate()
        except psutil.Error:
            pass
    _, alive = psutil.wait_procs(survivors, timeout=10)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(alive, timeout=5)


def _stop_names(settings: Settings, names: list[str]) -> list[str]:
    state = read_state(settings)
    stopped = []
    for name in reversed(names):
        entry = state.get(name)
        if not entry:
            continue
        pid = _state_pid(entry)
        if pid is not None and _alive(pid):
            _terminate(pid, timeout=30)
            stopped.append(name)
        state.pop(name, None)
    _write_state(settings, state)
    return stopped


def _wait_ports_closed(settings: Settings, names: list[str], timeout: float = 15.0) -> list[int]:
    """Wait until the ports of the components ``names`` (those just stopped) are closed; those still open."""
    ports = [port for c in components(settings) if c.embedded and c.name in names for port, _ in _ports(settings, c)]
    deadline = time.monotonic() + timeout
    while True:
        busy = [p for p in ports if not port_free(settings.host, p)]
        if not busy or time.monotonic() > deadline:
            return busy
        time.sleep(0.2)


def down(settings: Settings, progress: Progress | None = None) -> list[str]:
    """Stop what `up` started in this home, by pid, and wait until its ports close."""
    say = progress or (lambda _msg: None)
    state = read_state(settings)
    order = [c.name for c in components(settings) if c.managed_by == "mlplat"]
    # Whatever else the state names too (a component of another profile): down stops all this home started.
    names = [n for n in order if n in state] + [n for n in state if n not in order]
    for name in reversed(names):
        say(f"stopping {name}")
        _stop_names(settings, [name])
    profiles.forget(settings)
    busy = _wait_ports_closed(settings, names) if names else []
    if busy:
        raise StackError(f"stopped {', '.join(names)} but port(s) {busy} are still in use")
    return names


def status(settings: Settings) -> list[ComponentStatus]:
    """Health of every component, checked now."""
    state = read_state(settings)
    result = []
    for component in components(settings):
        pid: int | None = None
        if component.managed_by == "hub":
            pid = _pid_file(settings.run_dir / f"{component.name}.pid")
        elif component.embedded:
            raw = _state_pid(state.get(component.name, {}))
            pid = raw if raw is not None and _alive(raw) else None
        ok, detail = component.health()
        result.append(
            ComponentStatus(
                component=component.name,
                pid=pid,
                url=component.url,
                healthy=ok,
                managed_by=component.managed_by if component.embedded else "external",
                detail=detail,
            )
        )
    return result


def _pid_file(path: Path) -> int | None:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if _alive(pid) else None
