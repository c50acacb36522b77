"""The session's Ray instance: token authentication on, and nothing listening beyond the loopback interface."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.generation.jobs.conftest import RayCluster

psutil = pytest.importorskip("psutil")

pytestmark = pytest.mark.timeout(300)

CONNECT = """
import ray
ray.init(address={address!r}, log_to_driver=False)
print("connected", ray.cluster_resources().get("CPU"))
"""


def _client(cluster: RayCluster, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    environ.update(RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER="0", RAY_USAGE_STATS_ENABLED="0", **env)
    return subprocess.run(
        [sys.executable, "-c", CONNECT.format(address=cluster.gcs_address)],
        env=environ,
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.mark.parametrize(
    "env",
    [{"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": "not-the-token-0123456789abcdef"}, {"RAY_AUTH_MODE": "disabled"}],
    ids=["wrong-token", "no-token"],
)
def test_a_client_without_the_token_is_refused(ray_cluster: RayCluster, env: dict[str, str]) -> None:
    result = _client(ray_cluster, **env)
    assert result.returncode != 0
    assert "connected" not in result.stdout
    assert "auth" in (result.stderr + result.stdout).lower()


def test_a_client_with_the_token_joins(ray_cluster: RayCluster) -> None:
    result = _client(ray_cluster, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=ray_cluster.token)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "connected" in result.stdout


def test_ray_listens_on_loopback_only(ray_cluster: RayCluster) -> None:
    assert ray_cluster.gcs_address.startswith("127.0.0.1:")
    ray_processes = psutil.Process().children(recursive=True)
    listening = [
        (proc.name(), conn.laddr.ip, conn.laddr.port)
        for proc in ray_processes
        for conn in _tcp(proc)
        if conn.status == psutil.CONN_LISTEN
    ]
    assert listening, "found no Ray server sockets to check"
    assert [entry for entry in listening if entry[1] not in ("127.0.0.1", "::ffff:127.0.0.1", "::1")] == []


LOOPBACK_AFTER_IMPORT = """
import os, sys
os.environ.pop("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", None)
import ray  # first, as an earlier test or library may do: Ray reads its loopback switch now, and it is off
from ray._private import services
from generation.jobs.ray import keep_on_loopback
print("before", services.resolve_ip_for_localhost("127.0.0.1"))
keep_on_loopback()
print("after", services.resolve_ip_for_localhost("127.0.0.1"))
"""


def test_loopback_holds_even_when_ray_was_imported_first() -> None:
    """The cause of GCS once listening on '::': ``ray.init(_node_ip_address="127.0.0.1")`` turns 127.0.0.1
    into the machine's address when Ray was imported before RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 was set,
    and the GCS keeps to loopback only for a node address of exactly 127.0.0.1."""
    result = subprocess.run([sys.executable, "-c", LOOPBACK_AFTER_IMPORT], capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "after 127.0.0.1" in result.stdout.splitlines()


def _tcp(proc: psutil.Process) -> list:  # type: ignore[type-arg]
    try:
        return proc.net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return []
