"""Database access: engine and session factory for SQLite (embedded default) or PostgreSQL
(psycopg 3), and the Alembic upgrade run at start-up.

Invariants:
    * One :class:`Database` per process, built from settings and passed down; nothing global.
    * SQLite runs in WAL mode with a busy timeout so the projector (one writer thread) and the
      API readers do not block each other; foreign keys are enforced.
    * ``migrate()`` brings the schema to the newest Alembic revision; the models never call
      ``create_all`` in production code.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

from derivatives.config import sqlite_path

MIGRATIONS = Path(__file__).with_name("migrations")
ALEMBIC_INI = Path(__file__).with_name("alembic.ini")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """An SQLAlchemy engine plus a session factory."""

    def __init__(self, url: str, schema: str | None = None) -> None:
        """Connects lazily to `url`; `schema` (PostgreSQL only) becomes the search path."""
        self.url = url
        self.schema = schema
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        connect_args: dict[str, Any] = {}
        if url.startswith("sqlite"):
            connect_args["check_same_thread"] = False
        elif schema:
            connect_args["options"] = f"-csearch_path={schema}"
        self.engine: Engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        """True for SQLite."""
        return self.url.startswith("sqlite")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in a transaction: committed on success, rolled back on error."""
        with self.sessions.begin() as session:
            yield session

    @contextmanager
    def reader(self) -> Iterator[Session]:
        """A read-only session (rolled back at the end)."""
        session = self.sessions()
        try:
            yield session
        finally:
            session.rollback()
            session.close()

    def migrate(self) -> None:
        """Creates the schema (PostgreSQL) and upgrades to the newest Alembic revision."""
        with self.engine.begin() as connection:
            if self.schema and not self.is_sqlite:
                connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
            config = alembic_config(self.url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def dispose(self) -> None:
        """Closes every pooled connection."""
        self.engine.dispose()


def alembic_config(url: str) -> Config:
    """The Alembic configuration shipped in the package, pointed at `url`."""
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config
