"""A real PostgreSQL server for tests: ``$STACKWRIGHT_TEST_POSTGRES`` (a URL), else a throwaway cluster.

The throwaway cluster is made with ``initdb`` and ``pg_ctl`` from ``/usr/lib/postgresql/*/bin`` in a
temporary folder, listening on a free local port (password authentication over TCP, so that tests can
check that passwords never show) and on a socket in that folder, and is stopped at the end of the
session. As root, the server runs as the ``postgres`` user, as PostgreSQL requires. Without the
binaries (and without the variable) the tests that need it are skipped with the reason.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ENV = "STACKWRIGHT_TEST_POSTGRES"


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL server binaries, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _runner(owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--"] if owner else []


def _run(cmd: list[str], owner: str | None) -> None:
    proc = subprocess.run([*_runner(owner), *cmd], capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{Path(cmd[0]).name} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """The URL of a PostgreSQL database the tests may fill and empty (``postgresql+psycopg://...``)."""
    configured = os.environ.get(ENV)
    if configured:
        yield configured
        return
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip(f"PostgreSQL is not installed (no /usr/lib/postgresql/*/bin) and {ENV} is not set")
    if shutil.which("runuser") is None and os.geteuid() == 0:
        pytest.skip("running as root, and runuser (to start PostgreSQL as the postgres user) is missing")
    owner = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="sw-pg-"))
    data, sockets, log = root / "data", root / "run", root / "server.log"
    sockets.mkdir()
    password = secrets.token_hex(12)
    (root / "pwfile").write_text(password + "\n")
    if owner:
        shutil.chown(root, owner)
        for path in (sockets, root / "pwfile"):
            shutil.chown(path, owner)
    port = _free_port()
    try:
        _run(
            [
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "stackwright",
                f"--pwfile={root / 'pwfile'}",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            owner,
        )
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run(
            [
                str(bindir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            ],
            owner,
        )
    except RuntimeError as exc:
        shutil.rmtree(root, ignore_errors=True)
        pytest.fail(f"could not start a throwaway PostgreSQL server: {exc}")
    try:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1",
            port=port,
            user="stackwright",
            password=password,
            dbname="postgres",
            autocommit=True,
        ) as conn:
            conn.execute("CREATE DATABASE registry_test")
        yield f"postgresql+psycopg://stackwright:{password}@127.0.0.1:{port}/registry_test"
    finally:
        subprocess.run(
            [*_runner(owner), str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=120,
            check=False,
        )
        shutil.rmtree(root, ignore_errors=True)


def reset_database(url: str) -> None:
    """Drop what the registry's migrations create, so that each test starts from an empty database."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text("DROP TABLE IF EXISTS audit_log, optout_entry, optout_request, alembic_version CASCADE")
            )
            conn.execute(text("DROP FUNCTION IF EXISTS audit_log_append_only() CASCADE"))
    finally:
        engine.dispose()
