"""``stackwright portal``: the "Am I in the dataset?" web portal (the portal extra)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from stackwright.cli._common import PLAIN, choice, command_group, err, fail, metavar

app = typer.Typer()
portal_app = command_group(
    app, "portal", 'The "Am I in the dataset?" web portal (the portal extra): serve, hash-password.'
)


class HashMethod(StrEnum):
    scrypt = "scrypt"
    pbkdf2_sha256 = "pbkdf2_sha256"


@portal_app.command("serve")
def portal_serve_cmd(
    db: Annotated[str | None, typer.Option("--db", show_default=False, help=(
        "Opt-out registry URL (default: $STACKWRIGHT_REGISTRY, else the default registry file)."))] = None,
    releases: Annotated[Path, typer.Option(help="Folder of release folders (v0.1.0/, v0.2.0/, ...).")] = Path(
        "releases"),
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
    admin_token_env: Annotated[str, typer.Option(
        help="Environment variable holding the admin API token.")] = "STACKWRIGHT_ADMIN_TOKEN",
    admin_password_hash_env: Annotated[str, typer.Option(
        help="Environment variable holding the admin password hash (stackwright portal hash-password).")] = (
        "STACKWRIGHT_ADMIN_PASSWORD_HASH"),
    secret_key_env: Annotated[str, typer.Option(
        help="Environment variable holding the cookie signing key (random per start when unset).")] = (
        "STACKWRIGHT_PORTAL_SECRET"),
    rate_limit: Annotated[int, typer.Option(min=0, help="Requests per minute per client IP (0: off).")] = 120,
    max_body: Annotated[int, typer.Option(min=256, help="Largest request body accepted, in bytes.")] = 16384,
    access_log: Annotated[bool, typer.Option(help="Log every request (with its query string).")] = False,
) -> None:
    """Serve the portal: look-ups in every release of --releases, opt-out requests, admin review.

    Secrets come from environment variables, never from the command line (where `ps` shows them).
    """
    import logging
    import os

    try:
        import uvicorn
        from pydantic import ValidationError

        from stackwright.portal.app import create_app
        from stackwright.portal.settings import PortalSettings
    except ImportError as exc:
        fail(f"the portal needs the portal extra ({exc.name} is missing): pip install 'stackwright[portal]'")

    if not releases.is_dir():
        fail(f"{releases}: no such releases folder")
    try:
        settings = PortalSettings(
            releases=releases, registry_url=db, admin_token=os.environ.get(admin_token_env) or None,
            admin_password_hash=os.environ.get(admin_password_hash_env) or None,
            secret_key=os.environ.get(secret_key_env) or None, rate_limit=rate_limit, max_body_bytes=max_body)
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"invalid portal settings: {'.'.join(map(str, first['loc']))}: {first['msg']}")
    application = create_app(settings)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    registry = application.state.portal.registry.url
    configured = (("token", settings.admin_token), ("password", settings.admin_password_hash))
    admin = " and ".join(k for k, v in configured if v) or "off"
    err.print(f"portal: http://{host}:{port}/  releases: {releases}  registry: {registry}  admin: {admin}",
              **PLAIN)
    uvicorn.run(application, host=host, port=port, access_log=access_log, server_header=False,
                log_level="info")


@portal_app.command("hash-password")
def portal_hash_password_cmd(
    method: Annotated[HashMethod, typer.Option(
        parser=choice(HashMethod, "method"), metavar=metavar(HashMethod), help="scrypt or pbkdf2_sha256.")
    ] = HashMethod.scrypt,
    stdin: Annotated[bool, typer.Option("--stdin", help="Read the password from standard input.")] = False,
) -> None:
    """Print a hash of the admin password for $STACKWRIGHT_ADMIN_PASSWORD_HASH (asked twice, not echoed)."""
    from stackwright.portal.passwords import hash_password

    if stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    print(hash_password(password, method.value))
