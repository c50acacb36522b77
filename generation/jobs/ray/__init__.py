"""The Ray back end: the pool (dispatch, lost actors, a lost head), the cluster (connecting, the named actors)
and the actor (one warm engine on a GPU). The only room of the code base that imports ``ray``, and only
inside functions: importing this package does not import Ray.
"""

from generation.jobs.ray.actor import ACTOR_PREFIX, EngineSpec, code_version
from generation.jobs.ray.cluster import (
    RayOptions,
    WorkersUnavailable,
    connect,
    ensure_actors,
    keep_on_loopback,
    read_workers,
    reload_auth_settings,
)
from generation.jobs.ray.pool import RayPool

__all__ = [
    "ACTOR_PREFIX",
    "EngineSpec",
    "RayOptions",
    "RayPool",
    "WorkersUnavailable",
    "code_version",
    "connect",
    "ensure_actors",
    "keep_on_loopback",
    "read_workers",
    "reload_auth_settings",
]
