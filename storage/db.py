"""The database engine: SQLite by default (WAL, busy timeout, immediate write transactions), any URL works.

Migrations are Alembic's, run at startup and by ``animatebot db upgrade``. Async code never calls the
database on its event loop: ``await db.offload(fn, ...)`` runs ``fn`` on the one database thread
(``storage.dbthread``), which keeps its connection open (no pool checkout per call). SQLite's log is
checkpointed by a thread of its own, never inside a commit.

The job path's statements run several times per job, so they skip SQLAlchemy's per-statement machinery:
``Database.run`` takes a ``Prepared`` statement (``storage.prepared``: a Core statement compiled once
for this database's dialect, with its type conversions) and runs it on the driver's cursor (sqlite3 or psycopg), one
statement per transaction. Everything else, the schema included, stays SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from concurrent.futures import Future
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar, cast

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.selectable import Select

from storage import loopguard
from storage.dbthread import DatabaseThread, Urgency
from storage.prepared import Prepared

log = logging.getLogger("animatebot.storage")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
SQLITE_BUSY_TIMEOUT_MS = 10_000
CHECKPOINT_EVERY_S = 0.5  # how often the checkpoint thread folds SQLite's write-ahead log into the database

RECONNECT_WITHIN_S = 15.0  # how long the database thread tries to connect again after losing its connection
READ_ONLY = "animatebot_read_only"  # connection.info flag: the next transaction only reads

_P = ParamSpec("_P")
_T = TypeVar("_T")


def make_engine(url: str) -> Engine:
    """An engine for ``url``; for SQLite the file's folder is created and the connection tuned.

    SQLite gets WAL (readers never wait for the writer), a busy timeout, and ``BEGIN IMMEDIATE``
    so two writers queue up instead of failing with "database is locked" mid-transaction.
    """
    parsed = make_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs["pool_pre_ping"] = True  # a server restarted since a connection was pooled: a new one, not an error
    engine = create_engine(url, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so BEGIN IMMEDIATE below is ours.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Straight to the driver: this runs once per transaction, on the job path several times per job.
        if connection.info.get(READ_ONLY):
            return  # a read: SQLite answers it from a snapshot without taking the write lock
        connection.connection.dbapi_connection.execute("BEGIN IMMEDIATE")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema at ``engine`` up to ``revision``; safe to run on every start."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


_MEMO_MAX = 50_000  # remembered rows (one per user asked about a ban, most of them)


class Database:
    """An engine plus a session factory; ``session()`` and ``connection()`` are transactions that commit or roll back.

    On the database thread (``offload``) both run on one connection held open for the thread's life.
    """

    def __init__(self, url: str, *, migrate: bool = True, reconnect_within_s: float = RECONNECT_WITHIN_S) -> None:
        self.url = url
        self.reconnect_within_s = reconnect_within_s  # how long the database thread tries while the server is away
        self.engine = make_engine(url)
        if migrate:
            upgrade(self.engine)
        self._checkpoints: _Checkpoints | None = None
        if _is_sqlite_file(self.engine):
            self._checkpoints = _Checkpoints(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._local = threading.local()
        self._thread_lock = threading.Lock()
        self._thread: DatabaseThread | None = None
        self._prepared: dict[Hashable, Prepared] = {}
        self._memo: dict[Hashable, Any] = {}
        self._dbapi_error: type[Exception] = self.engine.dialect.loaded_dbapi.Error

    @contextmanager
    def session(self) -> Iterator[Session]:
        held: Connection | None = getattr(self._local, "connection", None)
        if held is None:
            if loopguard.enabled:
                loopguard.check()
            with self._sessions.begin() as session:
                yield session
            return
        with Session(bind=held, expire_on_commit=False) as session, session.begin():
            yield session
            self._local.commits += 1  # counted as it starts: a commit cut short may have happened

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A Core transaction: cheaper than a session for the queue's hot statements."""
        held: Connection | None = getattr(self._local, "connection", None)
        if held is None:
            if loopguard.enabled:
                loopguard.check()
            with self.engine.begin() as connection:
                yield connection
            return
        with held.begin():
            yield held
            self._local.commits += 1

    @contextmanager
    def reading(self) -> Iterator[Connection]:
        """Like ``connection()``, for reads only: on SQLite no write lock is taken."""
        held: Connection | None = getattr(self._local, "connection", None)
        if held is None and loopguard.enabled:
            loopguard.check()
        with contextlib.ExitStack() as stack:
            connection = held if held is not None else stack.enter_context(self.engine.connect())
            connection.info[READ_ONLY] = True  # read by the "begin" listener; lives as long as the DBAPI connection
            try:
                with connection.begin():
                    yield connection
            finally:
                connection.info.pop(READ_ONLY, None)

    # --- rows that change only through this process: read once, kept ------------------------------------
    def remembered(self, key: Hashable, load: Callable[[], _T]) -> _T:
        """``load()``'s result, read once and kept until ``forget()``: for the moderation rows every
        ``/animate`` reads (a ban, the block rules, a server's channel rules and quotas, a channel's safety
        policy), which change only through this process's own writes, each made inside ``changing()``."""
        try:
            return cast(_T, self._memo[key])
        except KeyError:
            if len(self._memo) >= _MEMO_MAX:  # many users: start over rather than grow without end
                self._memo.clear()
            value = self._memo[key] = load()
            return value

    def forget(self) -> None:
        """Drop everything ``remembered`` holds (after a write to those rows)."""
        self._memo.clear()

    @contextmanager
    def changing(self) -> Iterator[None]:
        """Around a write to rows ``remembered`` holds: they are forgotten once the write has ended
        (committed or not)."""
        try:
            yield
        finally:
            self.forget()

    # --- the job path: compiled once, run on the driver ---------------------------------------------------
    def prepare(self, key: Hashable, build: Callable[[], Select[Any] | UpdateBase]) -> Prepared:
        """The statement ``build()`` makes, compiled for this database once and kept under ``key``."""
        prepared = self._prepared.get(key)
        if prepared is None:
            prepared = self._prepared[key] = Prepared.compile(build(), self.engine.dialect)
        return prepared

    def run(self, prepared: Prepared, values: Mapping[str, Any]) -> tuple[int, list[dict[str, Any]]]:
        """Run one prepared statement in its own transaction: (rows changed, rows returned).

        Inside a transaction already open on this thread's connection it joins that transaction.
        Driver errors come out as SQLAlchemy's (``sqlalchemy.exc.IntegrityError`` and so on).
        """
        with self._driver() as (dbapi_connection, own):
            parameters = prepared.parameters(values)
            cursor = dbapi_connection.cursor()
            try:
                cursor.execute(prepared.sql, parameters)
                rows = prepared.rows(cursor) if prepared.columns else []
                count = len(rows) if prepared.columns else cursor.rowcount
                if own:
                    if hasattr(self._local, "commits"):  # the database thread: counted as it starts (``_resilient``)
                        self._local.commits += 1
                    dbapi_connection.commit()
            except self._dbapi_error as exc:
                lost = self.engine.dialect.is_disconnect(exc, dbapi_connection, cursor)  # type: ignore[arg-type]
                if own:
                    with contextlib.suppress(self._dbapi_error):  # a lost connection cannot roll back
                        dbapi_connection.rollback()
                raise DBAPIError.instance(
                    prepared.sql,
                    parameters,
                    exc,
                    self._dbapi_error,
                    dialect=self.engine.dialect,
                    connection_invalidated=lost,
                ) from exc
            finally:
                with contextlib.suppress(self._dbapi_error):
                    cursor.close()
        return count, rows

    @contextmanager
    def _driver(self) -> Iterator[tuple[Any, bool]]:
        """The driver's connection, and whether the statement is its own transaction (commit it)."""
        held: Connection | None = getattr(self._local, "connection", None)
        if held is not None:
            yield held.connection.dbapi_connection, not held.in_transaction()
            return
        if loopguard.enabled:
            loopguard.check()
        pooled = self.engine.raw_connection()
        try:
            yield pooled.dbapi_connection, True
        finally:
            pooled.close()

    def _hold_connection(self) -> None:
        self._local.connection = self.engine.connect()
        self._local.commits = 0  # commits begun on the held connection (see ``_resilient``)

    def _start_thread(self) -> None:
        """The database thread's first connection; a server away just then is tried again at the first call."""
        try:
            self._hold_connection()
        except DBAPIError as exc:
            self._local.connection, self._local.commits = None, 0
            log.warning("the database is not reachable (%s); trying again at the first call", _first_line(exc.orig))

    # --- surviving the server: a lost connection is replaced, a call that committed nothing is run again -----
    def _resilient(self, call: Callable[[], _T]) -> _T:
        """On the database thread: ``call()``. When its connection turns out to be lost (the server restarted or
        dropped it), a new one is made, and ``call()`` runs again if nothing of it can have been committed: none
        of its commits had begun, or the server answered the commit with an error (a server shutting down ends
        each connection with one: the transaction was rolled back). Only a connection that went silent during a
        commit leaves it unknown; then the error is raised."""
        if getattr(self._local, "connection", None) is None:
            self._reconnect(None)  # lost before, and not back then: try again now
        commits = self._local.commits
        try:
            return call()
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            repeat = self._local.commits == commits or getattr(exc.orig, "sqlstate", None) is not None
            self._reconnect(exc)
            if not repeat:
                log.warning("the database connection went silent while a write was committed; not repeated")
                raise
        return call()

    def _reconnect(self, lost: DBAPIError | None) -> None:
        """Replace the database thread's connection; tries for ``reconnect_within_s`` while the server is away."""
        old: Connection | None = getattr(self._local, "connection", None)
        self._local.connection = None
        if old is not None:
            with contextlib.suppress(Exception):
                old.invalidate()
                old.close()
        if lost is not None:
            log.warning("the database connection was lost (%s); connecting again", _first_line(lost.orig))
        deadline, pause = time.monotonic() + self.reconnect_within_s, 0.05
        while True:
            try:
                self._hold_connection()
            except DBAPIError:
                if time.monotonic() + pause > deadline:
                    raise
                time.sleep(pause)  # the server is restarting: back off, the thread has nothing else it can do
                pause = min(pause * 2, 1.0)
                continue
            if lost is not None:
                log.info("connected to the database again")
            return

    async def offload(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """Run ``fn(*args, **kwargs)`` on the database thread and return its result (or raise its error)."""
        return await self._executor().call(Urgency.NORMAL, self._on_thread(fn, *args, **kwargs))

    async def offload_later(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
        """``offload`` for work nobody waits on (delivery's bookkeeping): it runs after every waiting ``offload``."""
        return await self._executor().call(Urgency.LATER, self._on_thread(fn, *args, **kwargs))

    def answer(self, waiter: asyncio.Future[_T], fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> None:
        """From any thread: run ``fn(*args, **kwargs)`` on the database thread (as ``offload`` does) and settle
        ``waiter``, a future of the running loop, with its result or error."""
        self._executor().answer(waiter, Urgency.NORMAL, self._on_thread(fn, *args, **kwargs))

    def submit_first(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> Future[_T]:
        """Queue ``fn(*args, **kwargs)`` for the database thread ahead of everything else, from any thread
        (a claim the GPU waits for); its future."""
        return self._executor().submit(Urgency.FIRST, self._on_thread(fn, *args, **kwargs))

    def _on_thread(self, fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> Callable[[], _T]:
        return functools.partial(self._resilient, functools.partial(fn, *args, **kwargs))

    def _executor(self) -> DatabaseThread:
        if self._thread is None:
            with self._thread_lock:
                if self._thread is None:
                    self._thread = DatabaseThread(self._start_thread)
        return self._thread

    def close(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.stop()
            self._checkpoints = None
        if self._thread is not None:
            self._thread.submit(Urgency.LATER, self._release_connection).result()
            self._thread.shutdown()
            self._thread = None
        self.engine.dispose()

    def _release_connection(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None:
            connection.close()
            self._local.connection = None


def _first_line(exc: BaseException | None) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _is_sqlite_file(engine: Engine) -> bool:
    database = engine.url.database or ""
    return engine.dialect.name == "sqlite" and database not in ("", ":memory:") and "mode=memory" not in database


class _Checkpoints:
    """Checkpoints of SQLite's write-ahead log on a thread of their own, off the job path.

    SQLite by default checkpoints inside the commit that fills the log past 1,000 pages, and with
    ``synchronous=NORMAL`` a checkpoint syncs the database file: one commit in a few hundred (an
    accepted job, say) would wait for the disk. This process's connections never checkpoint
    (``wal_autocheckpoint=0``); this thread runs a PASSIVE checkpoint every ``CHECKPOINT_EVERY_S``,
    which waits for no reader or writer. A connection closing last checkpoints as SQLite always does.
    """

    def __init__(self, engine: Engine) -> None:
        self._stopped = threading.Event()
        event.listen(engine, "connect", self._no_autocheckpoint)
        engine.dispose()  # connections made before the listener (the migrations') would still checkpoint
        self._connection = engine.raw_connection()
        self._thread = threading.Thread(target=self._run, name="animatebot-db-checkpoint", daemon=True)
        self._thread.start()

    @staticmethod
    def _no_autocheckpoint(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA wal_autocheckpoint=0")

    def _run(self) -> None:
        try:
            while not self._stopped.wait(CHECKPOINT_EVERY_S):
                try:
                    raw = self._connection.dbapi_connection
                    if raw is None:
                        raise RuntimeError("the checkpoint connection is closed")
                    raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except Exception as exc:  # a busy or failing checkpoint is retried at the next tick
                    log.warning("WAL checkpoint failed: %s", exc)
        finally:
            self._connection.close()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()
