"""A real PostgreSQL server for the test session, from the Debian binaries, on 127.0.0.1 and a free port.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` user (``runuser``) in a
folder that user owns. Each test gets a database of its own. Without the binaries the PostgreSQL half of
the ``database_url`` fixture is skipped, saying why (``.ci/run`` installs them).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

_counter = itertools.count()


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if found:
        return Path(found[-1]).parent
    pg_ctl = shutil.which("pg_ctl")
    return Path(pg_ctl).parent if pg_ctl else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_server_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class PostgresServer:
    """A running server the tests started: its URL (no database), and what stopping or restarting it needs."""

    url: str
    bin_dir: Path
    data: Path
    home: Path
    options: str  # the server's command-line options: its port, socket folder, no fsync

    def restart(self) -> None:
        """Restart the server (``pg_ctl restart``, fast mode: every connection is cut, as an operator's restart
        does) and return once it accepts connections again, on the same port."""
        self._pg_ctl("-m", "fast", "-w", "restart")

    def stop(self, *, check: bool = False) -> None:
        """Stop the server at once (``immediate``: connections are cut, as a crash would)."""
        self._pg_ctl("-m", "immediate", "-w", "stop", check=check)

    def start(self) -> None:
        """Start it (again after ``stop``: the same port); return once it accepts connections."""
        self._pg_ctl("-o", self.options, "-w", "start")

    def _pg_ctl(self, *args: str, check: bool = True) -> None:
        # restart reuses the options of the first start (postmaster.opts): the same port and socket folder
        subprocess.run(
            _as_server_user([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.home / "log"), *args]),
            check=check,
            capture_output=True,
        )


@pytest.fixture(scope="session")
def postgres_instance() -> Iterator[PostgresServer]:
    """A PostgreSQL server running for this session (from the Debian binaries, on 127.0.0.1)."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL binaries not installed (apt-get install postgresql)")
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no 'postgres' user to run the server")
    home = Path(tempfile.mkdtemp(prefix="animatebot-pg-"))
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    data = home / "data"
    port = _free_port()
    subprocess.run(
        _as_server_user(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]
        ),
        check=True,
        capture_output=True,
    )
    options = f"-h 127.0.0.1 -p {port} -k {home} -F -c fsync=off -c full_page_writes=off"
    server = PostgresServer(f"postgresql+psycopg://postgres@127.0.0.1:{port}", bin_dir, data, home, options)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server(postgres_instance: PostgresServer) -> str:
    """``postgresql+psycopg://postgres@127.0.0.1:PORT`` of a server running for this session."""
    return postgres_instance.url


def create_database(server: str) -> str:
    """A new empty database on ``server``; its URL."""
    import psycopg

    name = f"t{os.getpid()}_{next(_counter)}"
    plain = server.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(f"{plain}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database: a SQLite file, then a PostgreSQL database on the session's server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/animatebot.db"
    return create_database(request.getfixturevalue("postgres_server"))
