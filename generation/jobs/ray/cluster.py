"""The Ray cluster as the bot sees it: connecting as a driver (token authentication always on, a local
start kept on 127.0.0.1), the named actors (created, attached, or replaced when they run other code or
settings than this bot), and reading their state. Ray is imported inside the functions, never at import.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from generation.jobs.backend import WorkerState
from generation.jobs.ray.actor import ACTOR_PREFIX, EngineActor, EngineSpec, code_version

log = logging.getLogger("animatebot.pool")

ACTOR_CONCURRENCY = 4  # run + info + cancel + engine controls at once; the lock inside keeps one job at a time


class WorkersUnavailable(Exception):
    """The Ray cluster cannot be reached or has no room for the workers; ``str(e)`` says which and why."""


@dataclass(frozen=True)
class RayOptions:
    """Where the cluster is and how many actors to keep (from settings; plain values)."""

    address: str | None = None  # None: start Ray on this machine, on 127.0.0.1 only
    workers: int | None = None  # None: one per GPU in the cluster
    gpus_per_worker: float = 1.0
    token: str | None = field(default=None, repr=False)  # the cluster's auth token; never in a repr
    namespace: str = "animatebot"
    init_kwargs: dict[str, Any] = field(default_factory=dict)  # extra ray.init arguments for a local start


def connect(opts: RayOptions) -> tuple[Any, bool]:
    """Become a Ray driver: (the ray module, whether this call connected). Raises WorkersUnavailable.

    Token authentication is always on: a local start makes up a token nobody else knows and keeps
    every address on 127.0.0.1; a remote cluster needs its token (``RAY_AUTH_TOKEN``).
    """
    if _ray_connected():
        import ray

        return ray, False  # the process is already a driver (tests; an embedding application)
    token = opts.token
    if opts.address is None:
        keep_on_loopback()
        token = token or secrets.token_hex(32)
    elif not token:
        raise WorkersUnavailable(
            f"the Ray cluster at {opts.address} needs its auth token: set RAY_AUTH_TOKEN (see the README)"
        )
    os.environ["RAY_AUTH_MODE"] = "token"
    os.environ["RAY_AUTH_TOKEN"] = token
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray  # after the environment above: Ray reads its auth settings once

    reload_auth_settings()
    kwargs: dict[str, Any] = {"namespace": opts.namespace, "log_to_driver": False, "logging_level": "WARNING"}
    if opts.address is None:
        kwargs.update(address="local", include_dashboard=False, _node_ip_address="127.0.0.1")
        kwargs.update(opts.init_kwargs)
    else:
        kwargs["address"] = opts.address
        probe(opts.address)  # Ray itself retries an unreachable head for minutes before it says so
    try:
        ray.init(**kwargs)
    except Exception as exc:
        where = opts.address or "this machine"
        raise WorkersUnavailable(f"cannot reach the Ray cluster at {where}: {type(exc).__name__}: {exc}") from None
    return ray, True


def read_workers(opts: RayOptions, timeout_s: float = 15.0) -> list[WorkerState]:
    """The bot's actors in a running cluster, as they describe themselves; creates nothing.

    An actor that does not answer within ``timeout_s`` is listed as not alive.
    """
    ray, owned = connect(opts)
    try:
        names = sorted(
            entry["name"]
            for entry in ray.util.list_named_actors(all_namespaces=True)
            if entry["namespace"] == opts.namespace and entry["name"].startswith(ACTOR_PREFIX)
        )
        states = []
        for name in names:
            state = WorkerState(name)
            try:
                info = ray.get(ray.get_actor(name, namespace=opts.namespace).info.remote(), timeout=timeout_s)
            except Exception as exc:
                state.last_error = f"not answering: {type(exc).__name__}"
            else:
                apply_info(state, info)
            states.append(state)
        return states
    finally:
        if owned:
            ray.shutdown()


def apply_info(state: WorkerState, info: dict[str, Any]) -> None:
    state.host, state.pid, state.gpus = info["host"], info["pid"], tuple(info["gpus"])
    state.model, state.jobs_done, state.loads = info["model"], info["jobs_done"], info["loads"]
    state.last_error = info["last_error"] or state.last_error
    state.job_id = info["job_id"]
    state.alive = True
    state.version = info.get("code_version")


def ensure_actors(
    spec: EngineSpec, options: RayOptions, count: int, version: str | None = None, *, timeout_s: float = 120.0
) -> dict[str, Any]:
    """Handles of the ``count`` named, detached, restartable actors (needs a driver): created unless they exist;
    one that runs other code than ``version`` (this process's by default) or was built from another ``spec``
    is killed and made again, so a bot restarted on new code or settings never keeps an old actor warm.

    An existing actor that does not answer within ``timeout_s`` (still loading its engine) is kept.
    """
    import ray

    version = version or code_version()
    remote_cls = ray.remote(EngineActor)
    handles = {}
    for index in range(count):
        name = f"{ACTOR_PREFIX}{index}"
        stale = _stale(ray, name, options.namespace, spec, version, timeout_s)
        if stale is not None:
            log.warning("worker %s runs %s; replacing it with one on %s", name, stale, f"{version}/{spec.fingerprint}")
            _kill(ray, name, options.namespace)
        handles[name] = remote_cls.options(
            name=name,
            namespace=options.namespace,
            lifetime="detached",
            get_if_exists=True,
            max_restarts=-1,
            max_task_retries=0,
            num_gpus=options.gpus_per_worker,
            num_cpus=0,
            max_concurrency=ACTOR_CONCURRENCY,
        ).remote(name, spec)
    return handles


def _stale(ray: Any, name: str, namespace: str, spec: EngineSpec, version: str, timeout_s: float) -> str | None:
    """What the existing actor ``name`` runs ("code X / settings Y") when that is not ``version`` and ``spec``;
    None when it matches, does not exist, or does not answer in time."""
    try:
        handle = ray.get_actor(name, namespace=namespace)
    except ValueError:
        return None
    try:
        info = ray.get(handle.info.remote(), timeout=timeout_s)
    except Exception as exc:
        log.info("worker %s did not answer (%s); attaching it as it is", name, type(exc).__name__)
        return None
    theirs = (info.get("code_version"), info.get("spec"))
    if theirs == (version, spec.fingerprint):
        return None
    return f"{theirs[0]}/{theirs[1]}"


def _kill(ray: Any, name: str, namespace: str, timeout_s: float = 60.0) -> None:
    """Kill the named actor for good and wait until its name is free (GCS frees it shortly after)."""
    ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            ray.get_actor(name, namespace=namespace)
        except ValueError:
            return
        time.sleep(0.05)
    raise WorkersUnavailable(f"the old worker {name} did not go away within {timeout_s:.0f} s")


def keep_on_loopback() -> None:
    """Make a Ray instance started by this process keep every address, and every listening socket, on 127.0.0.1.

    Ray reads its switch (RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0) once, when first imported. With the switch
    on (Linux's default) ``ray.init(_node_ip_address="127.0.0.1")`` replaces 127.0.0.1 by the machine's
    network address, and the GCS then listens on every interface: it keeps to loopback only when its
    node address is exactly 127.0.0.1. So the switch is set here, and also where Ray has read it already.
    """
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:  # imported before this call: it read the environment then
        constants.ENABLE_RAY_CLUSTER = False  # type: ignore[attr-defined]  # Ray private, no stubs


def reload_auth_settings() -> None:
    """Make Ray re-read RAY_AUTH_MODE / RAY_AUTH_TOKEN (it caches them when first imported)."""
    try:
        from ray._raylet import AuthenticationTokenLoader, Config  # type: ignore[attr-defined]  # private, no stubs

        Config.initialize("")
        AuthenticationTokenLoader.instance().reset_cache()
    except Exception:  # another Ray version: it read the environment on import, which came after ours
        log.debug("could not reload Ray's auth settings", exc_info=True)


def probe(address: str, timeout_s: float = 5.0) -> None:
    """Raise WorkersUnavailable at once when nothing answers at the head's ``host:port``."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise WorkersUnavailable(f"RAY_ADDRESS {address!r} is not host:port (e.g. 10.0.0.5:6379)")
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise WorkersUnavailable(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc}") from None


def _ray_connected() -> bool:
    ray = sys.modules.get("ray")
    return ray is not None and bool(ray.is_initialized())


def reason(exc: BaseException) -> str:
    """One line for people from a Ray error: for an actor whose engine failed to build, the engine's own error
    (the last line of the traceback Ray carries), not Ray's page of ids and addresses."""
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in reversed(lines):
        head, sep, _ = line.partition(": ")
        if sep and head.replace(".", "").isidentifier() and head.split(".")[-1].endswith(("Error", "Exception")):
            return line[:300]
    return f"{type(exc).__name__}: {lines[0] if lines else text}"[:300]
