"""Where the opt-out registry lives: the default SQLite file, and URLs that are safe to print.

The default registry is ``sqlite:///<data dir>/registry.sqlite``, where the data dir is
``$STACKWRIGHT_DATA`` or ``~/.local/share/stackwright``. ``$STACKWRIGHT_REGISTRY`` (a database URL)
replaces it for the ``optout`` commands and for builds. A URL may hold a password: it is only ever
shown through :func:`safe_url`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from stackwright.registry.errors import RegistryError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

REGISTRY_FILE = "registry.sqlite"
ENV_DATA = "STACKWRIGHT_DATA"
ENV_REGISTRY = "STACKWRIGHT_REGISTRY"
_URL_HINT = "expected sqlite:///PATH or postgresql://USER@HOST/DATABASE"


def data_dir() -> Path:
    """``$STACKWRIGHT_DATA`` or ``~/.local/share/stackwright``."""
    configured = os.environ.get(ENV_DATA)
    return Path(configured).expanduser() if configured else Path.home() / ".local" / "share" / "stackwright"


def default_sqlite_path() -> Path:
    return data_dir() / REGISTRY_FILE


def default_url() -> str:
    """``$STACKWRIGHT_REGISTRY``, else the SQLite file in the data dir."""
    configured = os.environ.get(ENV_REGISTRY)
    if configured:
        return configured
    return f"sqlite:///{default_sqlite_path()}"


def registry_url(configured: str | None) -> str | None:
    """The registry a build reads: the configured URL, else ``$STACKWRIGHT_REGISTRY``, else the default
    SQLite file when it exists, else None (no opt-outs)."""
    if configured:
        return configured
    if os.environ.get(ENV_REGISTRY):
        return os.environ[ENV_REGISTRY]
    path = default_sqlite_path()
    return f"sqlite:///{path}" if path.is_file() else None



def parse_url(url: str) -> URL:
    """The URL with a driver that is installed: ``postgresql://`` and ``postgres://`` mean psycopg 3.

    An unparseable URL is refused without echoing it (it may hold a password).
    """
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    if not isinstance(url, str) or not url.strip():
        raise RegistryError(f"empty registry URL; {_URL_HINT}")
    try:
        parsed = make_url(url.strip())
    except (ArgumentError, ValueError):
        raise RegistryError(f"invalid registry URL; {_URL_HINT}") from None
    backend = parsed.get_backend_name()
    if backend in ("postgresql", "postgres") and parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend not in ("sqlite", "postgresql"):
        raise RegistryError(f"unsupported registry database {backend!r}; {_URL_HINT}")
    return parsed


def safe_url(url: str) -> str:
    """The URL as it may be printed and recorded: any password replaced by ``***``."""
    try:
        return parse_url(url).render_as_string(hide_password=True)
    except RegistryError:
        return "<invalid URL>"


def sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = parse_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    if parsed.database.startswith("file:"):
        return None
    return Path(parsed.database)
