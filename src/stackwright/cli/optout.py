"""``stackwright optout``: the opt-out registry (add, list, show, verify, reject) and ``apply``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from stackwright.cli._common import PLAIN, choice, command_group, fail, metavar, out, print_json
from stackwright.cli.release import print_release, release_progress

app = typer.Typer()
optout_app = command_group(
    app, "optout",
    "The opt-out registry: developers' requests to leave the dataset (add, list, show, verify, reject).",
)

_DB_HELP = ("Registry database URL, sqlite:///PATH or postgresql://USER@HOST/DB (default: "
            "$STACKWRIGHT_REGISTRY, else registry.sqlite in $STACKWRIGHT_DATA or "
            "~/.local/share/stackwright).")
OptOutDb = Annotated[str | None, typer.Option("--db", help=_DB_HELP, show_default=False)]
OptOutActor = Annotated[str | None, typer.Option(help="Who decides, for the audit log (default: cli:$USER).")]


class Status(StrEnum):
    pending = "pending"
    verified = "verified"
    rejected = "rejected"
    applied = "applied"


def _registry(db: str | None, *, create: bool = False) -> Any:
    """The registry; only ``optout add`` creates one, the other commands never make an empty database."""
    from stackwright.registry import Registry

    return Registry.open(db, create=create)


def _actor(actor: str | None) -> str:
    if actor:
        return actor
    import getpass

    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


def _print_request(request: Any, *, contact: bool = False) -> None:
    data = request.admin_json(contact=contact)
    for key in ("id", "username", "scope", "status", "verifier", "decided_by", "reason", "applied_release",
                "created_at", "updated_at", "challenge", "contact"):
        if key in data and data[key] is not None:
            out.print(f"{key + ':':17}{data[key]}", **PLAIN)
    out.print(f"{'entries:':17}{', '.join(data['entries'])}", **PLAIN)


@optout_app.command("add")
def optout_add_cmd(
    username: Annotated[str, typer.Argument(help="GitHub user or organisation that opts out.")],
    contact: Annotated[str, typer.Option(help="Email address or URL to reach the requester (kept private).")],
    repos: Annotated[list[str] | None, typer.Argument(help="Repositories: NAME or USERNAME/NAME.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Opt out every repository of USERNAME.")] = False,
    db: OptOutDb = None,
    actor: OptOutActor = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the request as JSON.")] = False,
) -> None:
    """Record an opt-out request (pending) and print the token that proves ownership."""
    from stackwright.registry.request import OPTOUT_FILE

    if everything and repos:
        fail("give repositories or --all, not both")
    if not everything and not repos:
        fail("name the repositories to opt out, or --all for every repository of the user")
    with _registry(db, create=True) as registry:
        request = registry.request_optout(username, "all" if everything else list(repos or []), contact,
                                          actor=_actor(actor))
    how = (f"To verify it, commit a file named {OPTOUT_FILE} holding the token at the root of any "
           f"repository of {request.username}: the next build that reads it verifies the request. "
           f"A maintainer may also verify it: stackwright optout verify {request.id}")
    if as_json:
        print_json({**request.public_json(), "challenge": request.challenge, "instructions": how})
        return
    out.print(f"request {request.id}: {request.status} ({request.scope}: {', '.join(request.entries)})",
              **PLAIN)
    out.print(f"token: {request.challenge}", **PLAIN)
    out.print(how, **PLAIN)


@optout_app.command("list")
def optout_list_cmd(
    status: Annotated[Status | None, typer.Option(
        parser=choice(Status, "status"), metavar=metavar(Status),
        help="pending, verified, rejected or applied.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Most requests listed.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="Requests skipped first (oldest first).")] = 0,
    db: OptOutDb = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the requests as JSON.")] = False,
) -> None:
    """List opt-out requests, oldest first (never their contacts)."""
    chosen = None if status is None else status.value
    with _registry(db) as registry:
        requests = registry.list(chosen, limit=limit, offset=offset)
    if as_json:
        print_json([r.public_json() for r in requests])
        return
    if not requests:
        out.print(f"no {chosen + ' ' if chosen else ''}opt-out requests in {registry.url}", **PLAIN)
        return
    table = Table(title_justify="left")
    table.add_column("id", no_wrap=True, min_width=max(len(r.id) for r in requests))  # copied by users
    for column in ("username", "status", "verifier", "entries", "created"):
        table.add_column(column)
    for r in requests:
        entries = ", ".join(r.entries) if len(r.entries) <= 3 else f"{len(r.entries):,} repositories"
        table.add_row(r.id, r.username, r.status, r.verifier or "", entries,
                      r.created_at.strftime("%Y-%m-%d %H:%M"))
    out.print(table, markup=False, highlight=False)


@optout_app.command("show")
def optout_show_cmd(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id.")],
    db: OptOutDb = None,
    show_contact: Annotated[bool, typer.Option(help="Also print the requester's contact.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the request and its audit log as JSON.")
                       ] = False,
) -> None:
    """Show one request (token, decision) and its audit log; the contact only with --show-contact."""
    with _registry(db) as registry:
        request = registry.get(request_id)
        events = registry.audit(request_id) if request is not None else []
    if request is None:
        fail(f"no opt-out request {ascii(request_id)[:60]}")
    if as_json:
        print_json({**request.admin_json(contact=show_contact), "audit": events})
        return
    _print_request(request, contact=show_contact)
    for event in events:
        detail = ", ".join(f"{k}={v}" for k, v in event["detail"].items())
        out.print(f"  {event['at'][:19]}  {event['action']:9} by {event['actor']}  {detail}", **PLAIN)


@optout_app.command("verify")
def optout_verify_cmd(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id.")],
    db: OptOutDb = None,
    actor: OptOutActor = None,
) -> None:
    """Verify a pending request by hand (after checking that the requester owns the accounts)."""
    with _registry(db) as registry:
        request = registry.verify(request_id, actor=_actor(actor))
    out.print(f"request {request.id}: {request.status} ({', '.join(request.entries)})", **PLAIN)


@optout_app.command("reject")
def optout_reject_cmd(
    request_id: Annotated[str, typer.Argument(metavar="ID", help="The request id.")],
    reason: Annotated[str, typer.Option(help="Why (shown to the requester).")],
    db: OptOutDb = None,
    actor: OptOutActor = None,
) -> None:
    """Reject a pending request, with the reason."""
    with _registry(db) as registry:
        request = registry.reject(request_id, actor=_actor(actor), reason=reason)
    out.print(f"request {request.id}: {request.status}", **PLAIN)


@optout_app.command("apply")
def optout_apply_cmd(
    release: Annotated[Path, typer.Argument(help="The release to start from.")],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="New release folder (must not exist).")],
    version: Annotated[str | None, typer.Option("--version", help="New version [default: next patch].")] = (
        None
    ),
    db: OptOutDb = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Make a new release from RELEASE without the code of verified opt-outs, and mark them applied."""
    from stackwright.release.registry import apply_optouts

    previous, manifest, applied = apply_optouts(release, out_dir, version=version, db=db,
                                                progress=release_progress(as_json))
    print_release(out_dir, manifest, applied, as_json, f"release {manifest['version']} (from {previous})")
    if not as_json:
        removed = manifest["optouts"]["removed"]
        out.print(f"removed: {sum(removed.values()):,} files of {len(removed):,} repositories", **PLAIN)
        for repo, files in removed.items():
            out.print(f"  {repo}: {files:,} file(s)", **PLAIN)
