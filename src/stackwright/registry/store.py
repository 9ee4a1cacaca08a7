"""The opt-out registry: requests, their verification, and what a release must leave out.

Each method is one transaction and returns plain values (:class:`OptOutRequest` snapshots, dicts),
never ORM objects, so that callers (the CLI, the web portal, builds) hold no session. Every change of
a request's state is written to ``audit_log`` in the same transaction; the audit log never records a
contact address.
"""

from __future__ import annotations

import builtins
import secrets
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Literal

from sqlalchemy import Engine, create_engine, event, func, select
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from stackwright.registry import migrate
from stackwright.registry.errors import RegistryError
from stackwright.registry.location import default_url, parse_url, sqlite_file
from stackwright.registry.models import AuditRow, EntryRow, RequestRow, utcnow
from stackwright.registry.optout_set import OptOutSet
from stackwright.registry.request import OptOutRequest
from stackwright.registry.validation import (
    APPLIED,
    LOGIN,
    MAINTAINER,
    MAX_ACTOR,
    MAX_REASON,
    PENDING,
    REJECTED,
    REPOSITORY_TOKEN,
    SCOPE_ALL,
    SCOPE_REPOSITORIES,
    STATUSES,
    VERIFIED,
    check_contact,
    check_release,
    check_repositories,
    check_status,
    check_text,
    check_username,
    check_verifier,
    shown,
)

CHALLENGE_PREFIX = "stackwright-optout-"
MAX_ID = 64
_CHUNK = 500  # values per IN (...) list, well under every database's parameter limit


def new_request_id() -> str:
    """24 URL-safe characters from 144 random bits: not sequential, not guessable. Never starting with
    ``-`` (or ``_``), so that a command line takes the id as an argument, not as an option."""
    while True:
        request_id = secrets.token_urlsafe(18)
        if request_id[0].isalnum():
            return request_id


def new_challenge() -> str:
    return CHALLENGE_PREFIX + secrets.token_urlsafe(24)


class Registry:
    """Opt-out requests in a SQLite or PostgreSQL database. Open with :meth:`Registry.open`."""

    def __init__(self, engine: Engine, url: str) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)
        self.url = url  # password hidden: safe to print and to record

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str | None = None, *, create: bool = True) -> Registry:
        """Open the registry at ``url`` (default: :func:`stackwright.registry.location.default_url`).

        With ``create`` the database is migrated to the newest revision (tables are created in an
        empty one; a SQLite file and its folder are created). Without it, a registry that does not
        exist or is at another revision is an error: builds open it so, and never make an empty one
        by mistake.
        """
        raw = url if url is not None else default_url()
        parsed = parse_url(raw)
        safe = parsed.render_as_string(hide_password=True)
        path = sqlite_file(raw)
        kwargs: dict[str, Any] = {}
        if path is not None:
            if not path.exists():
                if not create:
                    raise RegistryError(f"no opt-out registry at {safe}: the file does not exist")
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise RegistryError(
                        f"cannot create the registry folder {path.parent}: {exc.strerror}"
                    ) from None
            kwargs["connect_args"] = {"timeout": 30}
        elif parsed.get_backend_name() == "postgresql":
            kwargs["connect_args"] = {"connect_timeout": 10}
            kwargs["pool_pre_ping"] = True
        try:
            engine = create_engine(parsed, **kwargs)
        except ModuleNotFoundError:
            raise RegistryError(
                "a PostgreSQL registry needs psycopg: pip install 'stackwright[postgres]'"
            ) from None
        if engine.dialect.name == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        try:
            with engine.begin() as conn:
                if create:
                    migrate.upgrade(conn)
                revision = migrate.current_revision(conn)
        except SQLAlchemyError as exc:
            engine.dispose()
            raise _error(exc, safe) from None
        head = migrate.head_revision()
        if revision != head:
            engine.dispose()
            found = f"revision {revision}" if revision else "no registry tables"
            raise RegistryError(
                f"{safe} is not an opt-out registry at revision {head} ({found}); "
                "`stackwright optout list --db URL` creates or upgrades it"
            )
        return cls(engine, safe)

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Registry({self.url!r})"

    @contextmanager
    def _session(self) -> Iterator[Session]:
        try:
            with self._sessions.begin() as session:
                yield session
        except SQLAlchemyError as exc:
            raise _error(exc, self.url) from None

    # -- requests ------------------------------------------------------------------------------

    def request_optout(
        self,
        username: str,
        repositories: builtins.list[str] | Literal["all"],
        contact: str,
        *,
        actor: str = "portal",
    ) -> OptOutRequest:
        """Record a pending request with a fresh challenge token for the ownership proof."""
        username = check_username(username)
        names = check_repositories(username, repositories)
        contact = check_contact(contact)
        actor = check_text(actor, "actor", MAX_ACTOR)
        owner = username.lower()
        now = utcnow()
        row = RequestRow(
            id=new_request_id(),
            username=username,
            scope=SCOPE_ALL if names is None else SCOPE_REPOSITORIES,
            contact=contact,
            status=PENDING,
            verifier=None,
            challenge=new_challenge(),
            created_at=now,
            updated_at=now,
        )
        if names is None:
            row.entries = [EntryRow(owner=owner, repo=None)]
        else:
            row.entries = [EntryRow(owner=owner, repo=name.split("/", 1)[1]) for name in names]
        with self._session() as session:
            session.add(row)
            session.flush()
            _audit(
                session,
                actor,
                "requested",
                row.id,
                {"username": username, "scope": row.scope, "entries": len(row.entries)},
            )
            return _snapshot(row)

    def get(self, request_id: str) -> OptOutRequest | None:
        if not isinstance(request_id, str) or not request_id or len(request_id) > MAX_ID:
            return None
        with self._session() as session:
            row = session.get(RequestRow, request_id)
            return _snapshot(row) if row is not None else None

    def verify(self, request_id: str, *, actor: str, verifier: str = MAINTAINER) -> OptOutRequest:
        """pending -> verified (by a maintainer who checked ownership, or by the repository token)."""
        verifier = check_verifier(verifier)
        actor = check_text(actor, "actor", MAX_ACTOR)
        with self._session() as session:
            row = _pending(session, request_id, "verified")
            _decide(session, row, VERIFIED, actor, {"verifier": verifier}, verifier=verifier)
            return _snapshot(row)

    def reject(self, request_id: str, *, actor: str, reason: str) -> OptOutRequest:
        """pending -> rejected, with the reason (shown to the requester)."""
        actor = check_text(actor, "actor", MAX_ACTOR)
        reason = check_text(reason, "the reason", MAX_REASON)
        with self._session() as session:
            row = _pending(session, request_id, "rejected")
            row.reason = reason
            _decide(session, row, REJECTED, actor, {})
            return _snapshot(row)

    def mark_applied(
        self, request_ids: Iterable[str], release_version: str, *, actor: str
    ) -> builtins.list[str]:
        """verified -> applied: the requests are honoured by release ``release_version``.

        All or nothing: a request that is not verified makes the whole call fail.
        """
        release_version = check_release(release_version)
        actor = check_text(actor, "actor", MAX_ACTOR)
        ids = builtins.list(dict.fromkeys(request_ids))
        with self._session() as session:
            for request_id in ids:
                row = (
                    session.get(RequestRow, request_id, with_for_update=True)
                    if isinstance(request_id, str)
                    else None
                )
                if row is None:
                    raise RegistryError(f"no opt-out request {shown(request_id)}")
                if row.status != VERIFIED:
                    raise RegistryError(
                        f"request {row.id} is {row.status}; only verified requests can be marked applied"
                    )
                row.applied_release = release_version
                _decide(session, row, APPLIED, actor, {"release": release_version})
        return ids

    def confirm_tokens(self, found: dict[str, str], *, actor: str = "ingest") -> builtins.list[str]:
        """The ownership proof: ``found`` maps ``owner/name`` to the text of its root
        ``.stackwright-optout`` file. Every pending request of that owner whose challenge token the
        text holds becomes verified by "repository-token". Returns the verified ids, oldest first."""
        actor = check_text(actor, "actor", MAX_ACTOR)
        texts: dict[str, builtins.list[tuple[str, str]]] = {}
        for repo, text in sorted(found.items()):
            if not isinstance(repo, str) or not isinstance(text, str):
                continue
            owner, slash, _ = repo.partition("/")
            if slash and LOGIN.fullmatch(owner):
                texts.setdefault(owner.lower(), []).append((repo, text))
        verified: builtins.list[str] = []
        if not texts:
            return verified
        with self._session() as session:
            owners = sorted(texts)
            rows: builtins.list[RequestRow] = []
            for start in range(0, len(owners), _CHUNK):
                wanted = select(EntryRow.request_id).where(EntryRow.owner.in_(owners[start : start + _CHUNK]))
                rows.extend(
                    session.scalars(
                        select(RequestRow)
                        .where(RequestRow.status == PENDING, RequestRow.id.in_(wanted))
                        .with_for_update()
                    )
                )
            for row in sorted(rows, key=lambda r: (r.created_at, r.id)):
                for repo, text in texts.get(row.username.lower(), ()):
                    if row.challenge in text:
                        _decide(
                            session,
                            row,
                            VERIFIED,
                            actor,
                            {"verifier": REPOSITORY_TOKEN, "repository": repo.lower()},
                            verifier=REPOSITORY_TOKEN,
                        )
                        verified.append(row.id)
                        break
        return verified

    # -- what releases honour ------------------------------------------------------------------

    def verified_optouts(self) -> OptOutSet:
        """Owners and repositories of every verified or applied request."""
        with self._session() as session:
            return _verified(session)

    def registry_state(self) -> dict[str, Any]:
        """What a manifest records about the registry it honoured (no names, no contacts): the URL
        without password, the schema revision, requests by status, the last audit event, and the
        digest of the verified entries (:attr:`OptOutSet.sha256`)."""
        return self.optouts_with_state()[1]

    def optouts_with_state(self) -> tuple[OptOutSet, dict[str, Any]]:
        """:meth:`verified_optouts` and :meth:`registry_state` read in one transaction, so that the
        state's digest is the digest of the set."""
        with self._session() as session:
            counts = dict.fromkeys(STATUSES, 0)
            for status, n in session.execute(
                select(RequestRow.status, func.count()).group_by(RequestRow.status)
            ):
                counts[status] = n
            last = session.scalar(select(func.max(AuditRow.id)))
            revision = migrate.current_revision(session.connection())
            optouts = _verified(session)
            return optouts, {
                "url": self.url,
                "revision": revision,
                "requests": counts,
                "last_audit_id": int(last or 0),
                "sha256": optouts.sha256,
            }

    def audit(self, request_id: str | None = None) -> builtins.list[dict[str, Any]]:
        """Audit events, oldest first (one request's, or all)."""
        query = select(AuditRow).order_by(AuditRow.id)
        if request_id is not None:
            query = query.where(AuditRow.request_id == request_id)
        with self._session() as session:
            return [
                {
                    "id": a.id,
                    "at": a.at.isoformat(),
                    "actor": a.actor,
                    "action": a.action,
                    "request_id": a.request_id,
                    "detail": a.detail,
                }
                for a in session.scalars(query)
            ]

    def list(
        self, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> builtins.list[OptOutRequest]:
        """Requests, oldest first, optionally of one status."""
        if status is not None:
            check_status(status)
        if not isinstance(limit, int) or not 1 <= limit <= 10_000:
            raise RegistryError("limit must be between 1 and 10000")
        if not isinstance(offset, int) or offset < 0:
            raise RegistryError("offset must not be negative")
        query = select(RequestRow).order_by(RequestRow.created_at, RequestRow.id).limit(limit).offset(offset)
        if status is not None:
            query = query.where(RequestRow.status == status)
        with self._session() as session:
            return [_snapshot(row) for row in session.scalars(query)]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _error(exc: SQLAlchemyError, url: str) -> RegistryError:
    """A one-line error that never quotes SQL parameters (they may hold a contact address)."""
    orig = getattr(exc, "orig", None)
    if isinstance(exc, OperationalError | InterfaceError):
        first = str(orig or "").strip().splitlines()[:1]
        detail = f": {first[0][:200]}" if first else ""
        return RegistryError(f"cannot use the opt-out registry at {url}{detail}")
    return RegistryError(
        f"the opt-out registry at {url} refused the operation ({type(orig or exc).__name__})"
    )


def _pending(session: Session, request_id: str, to: str) -> RequestRow:
    row = (
        session.get(RequestRow, request_id, with_for_update=True)
        if isinstance(request_id, str) and 0 < len(request_id) <= MAX_ID
        else None
    )
    if row is None:
        raise RegistryError(f"no opt-out request {shown(request_id)}")
    if row.status != PENDING:
        raise RegistryError(f"request {row.id} is {row.status}; only pending requests can be {to}")
    return row


def _decide(
    session: Session,
    row: RequestRow,
    status: str,
    actor: str,
    detail: dict[str, Any],
    verifier: str | None = None,
) -> None:
    previous = row.status
    row.status = status
    if verifier is not None:
        row.verifier = verifier
    row.decided_by = actor
    row.updated_at = utcnow()
    _audit(session, actor, status, row.id, {"from": previous, **detail})


def _audit(session: Session, actor: str, action: str, request_id: str | None, detail: dict[str, Any]) -> None:
    session.add(AuditRow(at=utcnow(), actor=actor, action=action, request_id=request_id, detail=detail))


def _verified(session: Session) -> OptOutSet:
    owners: set[str] = set()
    repos: set[str] = set()
    query = (
        select(EntryRow.owner, EntryRow.repo)
        .join(RequestRow, RequestRow.id == EntryRow.request_id)
        .where(RequestRow.status.in_((VERIFIED, APPLIED)))
    )
    for owner, repo in session.execute(query):
        if repo is None:
            owners.add(owner)
        else:
            repos.add(f"{owner}/{repo}")
    return OptOutSet(frozenset(owners), frozenset(repos))


def _snapshot(row: RequestRow) -> OptOutRequest:
    entries = sorted(e.owner if e.repo is None else f"{e.owner}/{e.repo}" for e in row.entries)
    return OptOutRequest(
        id=row.id,
        username=row.username,
        scope=row.scope,
        entries=entries,
        status=row.status,
        verifier=row.verifier,
        challenge=row.challenge,
        created_at=row.created_at,
        updated_at=row.updated_at,
        applied_release=row.applied_release,
        reason=row.reason,
        decided_by=row.decided_by,
        contact=row.contact,
    )
