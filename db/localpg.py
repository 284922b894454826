"""Start the machine's PostgreSQL server when it is down and make throw-away databases.

Used by the test suite and the benchmarks; production points `database.url` at a real server.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid

import psycopg

ROLE = "shopgo_dev"
PASSWORD = "shopgo_dev"
HOST = "127.0.0.1"


class PostgresUnavailable(RuntimeError):
    """The local PostgreSQL server could not be started or reached."""


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def _as_postgres(sql: str) -> None:
    cmd = ["psql", "-v", "ON_ERROR_STOP=1", "-qAtc", sql]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--", *cmd]
    out = _run(cmd)
    if out.returncode != 0:
        raise PostgresUnavailable(f"psql as postgres failed: {out.stderr.strip()}")


def _port() -> int:
    return int(os.environ.get("SHOPGO_PGPORT", "5432"))


def admin_url(dbname: str = "postgres") -> str:
    """A psycopg connection string for the development role."""
    return f"host={HOST} port={_port()} user={ROLE} password={PASSWORD} dbname={dbname}"


def ensure_server() -> None:
    """Start the local cluster if it is down and make sure the development role exists."""
    if os.environ.get("SHOPGO_TEST_PG_URL"):
        return
    try:
        psycopg.connect(admin_url(), connect_timeout=3).close()
        return
    except psycopg.OperationalError:
        pass
    if shutil.which("pg_lsclusters") is None:
        raise PostgresUnavailable(
            "PostgreSQL 15 is not installed: run `apt-get install postgresql-15` (as root), "
            "or set SHOPGO_TEST_PG_URL to a server you run yourself")
    listing = _run(["pg_lsclusters", "--no-header"]).stdout.split()
    if "down" in listing:
        if os.geteuid() != 0:
            raise PostgresUnavailable("the PostgreSQL cluster is down: start it with `sudo pg_ctlcluster 15 main start`")
        out = _run(["pg_ctlcluster", listing[0], listing[1], "start"])
        if out.returncode != 0:
            raise PostgresUnavailable(f"pg_ctlcluster could not start PostgreSQL: {out.stderr.strip()}")
    deadline = time.monotonic() + 30
    while True:
        try:
            _as_postgres(f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{ROLE}') THEN "
                         f"CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD '{PASSWORD}'; END IF; END $$")
            break
        except PostgresUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    psycopg.connect(admin_url(), connect_timeout=5).close()


def create_database(prefix: str = "shopgo_test") -> str:
    """Create an empty database and return its SQLAlchemy URL."""
    if os.environ.get("SHOPGO_TEST_PG_URL"):
        return os.environ["SHOPGO_TEST_PG_URL"]
    ensure_server()
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://{ROLE}:{PASSWORD}@{HOST}:{_port()}/{name}"


def drop_database(url: str) -> None:
    """Drop a database made by create_database."""
    if os.environ.get("SHOPGO_TEST_PG_URL"):
        return
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
