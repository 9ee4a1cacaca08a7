"""The opt-out registry on SQLite and on a real PostgreSQL server: requests, verification, the
append-only audit log, migrations, hostile input, the ``optout`` build step, the ingest-time token
proof through real git builds, and the ``stackwright optout`` commands."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from helpers import (
    assert_one_line_error,
    cli_env,
    commit_all,
    git,
    read_manifest,
    read_rows,
    run_cli,
    write,
)
from postgres import postgres_server, reset_database  # noqa: F401  (the session fixture)
from stackwright.config import BuildConfig, OptOutConfig
from stackwright.curate.optout import OptOutFilter
from stackwright.pipeline.step import STEP_FACTORIES, StepStats, build_pipeline
from stackwright.records import BASE_SCHEMA
from stackwright.registry import OptOutRequest, OptOutSet, Registry, RegistryError, migrate
from stackwright.registry.location import default_url, safe_url
from stackwright.registry.models import Base
from stackwright.registry.store import new_request_id

INJECTION = "'); DROP TABLE optout_request; --"
CONTACT = "dev@example.com"


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty registry database: a SQLite file, or the test PostgreSQL database emptied."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.sqlite'}"
        return
    url = request.getfixturevalue("postgres_server")
    reset_database(url)
    yield url
    reset_database(url)


@pytest.fixture
def registry(db_url: str) -> Iterator[Registry]:
    with Registry.open(db_url) as reg:
        yield reg


@pytest.fixture(autouse=True)
def _isolated_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the user's default registry."""
    monkeypatch.setenv("STACKWRIGHT_DATA", str(tmp_path / "data"))
    monkeypatch.delenv("STACKWRIGHT_REGISTRY", raising=False)


def _raw(url: str, sql: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql))
            return list(result) if result.returns_rows else []
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------------
# Lifecycle


def test_lifecycle_request_verify_apply(registry: Registry) -> None:
    req = registry.request_optout("Octo-Cat", ["Hello", "octo-cat/World", "OCTO-CAT/hello"], CONTACT)
    assert isinstance(req, OptOutRequest)
    assert req.status == "pending" and req.scope == "repositories" and req.verifier is None
    assert req.entries == ["octo-cat/hello", "octo-cat/world"]  # lower-cased, distinct, sorted
    assert re.fullmatch(r"[A-Za-z0-9_-]{16,}", req.id)
    assert req.challenge.startswith("stackwright-optout-") and len(req.challenge) > 40
    assert req.created_at.tzinfo == UTC and req.updated_at == req.created_at
    assert CONTACT not in repr(req) and req.challenge not in repr(req)
    public = req.public_json()
    assert "contact" not in public and "challenge" not in public and CONTACT not in json.dumps(public)
    with pytest.raises(AttributeError):
        req.status = "verified"  # type: ignore[misc]  (a frozen snapshot)

    got = registry.get(req.id)
    assert got == req and got.contact == CONTACT and got.created_at.tzinfo == UTC
    assert registry.get("nope") is None
    assert registry.verified_optouts() == OptOutSet()

    verified = registry.verify(req.id, actor="maintainer:alice")
    assert (verified.status, verified.verifier, verified.decided_by) == (
        "verified",
        "maintainer",
        "maintainer:alice",
    )
    assert verified.updated_at >= verified.created_at
    with pytest.raises(RegistryError, match="is verified; only pending requests can be verified"):
        registry.verify(req.id, actor="x")
    with pytest.raises(RegistryError, match="only pending requests can be rejected"):
        registry.reject(req.id, actor="x", reason="no")
    optouts = registry.verified_optouts()
    assert optouts.repos == {"octo-cat/hello", "octo-cat/world"} and not optouts.owners

    everything = registry.request_optout("bob", "all", "https://bob.example/contact", actor="cli")
    assert everything.scope == "all" and everything.entries == ["bob"]
    registry.verify(everything.id, actor="m")
    assert registry.verified_optouts().owners == {"bob"}

    applied_ids = registry.mark_applied([req.id, everything.id], "v1.0.0", actor="release")
    assert applied_ids == [req.id, everything.id]
    applied = registry.get(req.id)
    assert applied is not None and (applied.status, applied.applied_release) == ("applied", "v1.0.0")
    # Applied requests are still honoured by later releases.
    assert registry.verified_optouts() == OptOutSet(
        frozenset({"bob"}), frozenset({"octo-cat/hello", "octo-cat/world"})
    )
    with pytest.raises(RegistryError, match="only verified requests can be marked applied"):
        registry.mark_applied([req.id], "v1.0.1", actor="release")

    ids = [registry.request_optout("carol", ["r"], CONTACT).id for _ in range(5)]
    assert len(set(ids)) == 5 and all(len(i) >= 16 for i in ids)
    rejected = registry.reject(ids[0], actor="m", reason="could not confirm ownership")
    assert (rejected.status, rejected.reason) == ("rejected", "could not confirm ownership")
    assert [r.id for r in registry.list("pending")] == ids[1:]
    assert {r.id for r in registry.list("applied")} == {req.id, everything.id}
    assert [r.id for r in registry.list(limit=2, offset=1)] == [everything.id, ids[0]]
    assert len(registry.list()) == 7
    with pytest.raises(RegistryError, match="unknown status"):
        registry.list("done")

    state = registry.registry_state()
    assert state["requests"] == {"pending": 4, "verified": 0, "rejected": 1, "applied": 2}
    assert state["revision"] == migrate.head_revision()
    assert state["sha256"] == registry.verified_optouts().sha256
    assert state["last_audit_id"] == max(a["id"] for a in registry.audit())


def test_audit_log_records_every_change_without_contacts(registry: Registry) -> None:
    req = registry.request_optout("octo", "all", CONTACT, actor="portal")
    registry.verify(req.id, actor="maintainer:alice")
    registry.mark_applied([req.id], "v2.0.0", actor="release:bot")
    other = registry.request_optout("octo", ["x"], "other@example.com")
    registry.reject(other.id, actor="m", reason="duplicate")
    events = registry.audit(req.id)
    assert [(e["action"], e["actor"]) for e in events] == [
        ("requested", "portal"),
        ("verified", "maintainer:alice"),
        ("applied", "release:bot"),
    ]
    assert events[0]["detail"] == {"username": "octo", "scope": "all", "entries": 1}
    assert events[1]["detail"] == {"from": "pending", "verifier": "maintainer"}
    assert events[2]["detail"] == {"from": "verified", "release": "v2.0.0"}
    everything = registry.audit()
    assert [e["id"] for e in everything] == sorted(e["id"] for e in everything) and len(everything) == 5
    dumped = json.dumps(everything)
    assert CONTACT not in dumped and "other@example.com" not in dumped
    assert all(e["at"].endswith("+00:00") for e in everything)


def test_audit_log_refuses_update_and_delete_in_the_database(db_url: str) -> None:
    with Registry.open(db_url) as reg:
        reg.request_optout("octo", "all", CONTACT)
        before = reg.audit()
    for sql in ("UPDATE audit_log SET actor = 'someone else'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="audit_log is append-only"):
            _raw(db_url, sql)
    if db_url.startswith("postgresql"):
        with pytest.raises(DBAPIError, match="audit_log is append-only"):
            _raw(db_url, "TRUNCATE audit_log")
    else:  # the triggers hold for any client of the file, not only through SQLAlchemy
        conn = sqlite3.connect(db_url.removeprefix("sqlite:///"))
        with pytest.raises(sqlite3.DatabaseError, match="audit_log is append-only"):
            conn.execute("DELETE FROM audit_log WHERE id = 1")
        conn.close()
    _raw(
        db_url,
        "INSERT INTO audit_log (at, actor, action, detail) VALUES "
        "('2024-01-01 00:00:00', 'ops', 'note', '{}')",
    )  # appending still works
    with Registry.open(db_url) as reg:
        after = reg.audit()
    assert after[: len(before)] == before and len(after) == len(before) + 1


# ---------------------------------------------------------------------------------------------------
# Validation and hostile input


@pytest.mark.parametrize(
    "username",
    [
        "",
        "-octo",
        "a" * 40,
        "octo/cat",
        "octo cat",
        "octo_cat",
        "octo\n",
        "ｏｃｔｏ",
        INJECTION,
        None,
        42,
    ],
)
def test_usernames_follow_github_rules(registry: Registry, username: Any) -> None:
    with pytest.raises(RegistryError, match="is not a GitHub user or organisation name"):
        registry.request_optout(username, "all", CONTACT)
    assert registry.list() == []


@pytest.mark.parametrize("username", ["octo-", "oc--to", "a" * 39])
def test_older_account_names_can_opt_out(registry: Registry, username: str) -> None:
    """GitHub no longer gives out such names, but accounts that have them must be able to opt out."""
    assert registry.request_optout(username, "all", CONTACT).username == username


def test_valid_usernames(registry: Registry) -> None:
    for username in ("a", "A1", "octo-cat", "x" * 39, "9-9"):
        assert registry.request_optout(username, "all", CONTACT).entries == [username.lower()]


@pytest.mark.parametrize(
    ("repositories", "message"),
    [
        ([], "name at least one repository"),
        ("hello", "must be a list"),
        (["alice/hello"], "does not belong to octo"),
        (["."], "is not a GitHub repository name"),
        (["octo/.."], "is not a GitHub repository name"),
        (["a/b/c"], "does not belong to octo"),
        (["octo/a/b"], "is not a GitHub repository name"),
        (["x" * 101], "is not a GitHub repository name"),
        (["hel lo"], "is not a GitHub repository name"),
        ([INJECTION], "is not a GitHub repository name"),
        ([f"octo/{INJECTION}"], "is not a GitHub repository name"),
        ([None], "is not a name"),
        ([f"r{i}" for i in range(1001)], "at most 1000 repositories"),
    ],
)
def test_repository_entries_are_validated(registry: Registry, repositories: Any, message: str) -> None:
    with pytest.raises(RegistryError, match=re.escape(message)):
        registry.request_optout("octo", repositories, CONTACT)


def test_repository_limits_and_forms(registry: Registry) -> None:
    names = [f"r{i}" for i in range(1000)]
    assert len(registry.request_optout("octo", names, CONTACT).entries) == 1000
    req = registry.request_optout("Octo", ["OCTO/Dots.and_under-score", "x" * 100], CONTACT)
    assert req.entries == ["octo/dots.and_under-score", "octo/" + "x" * 100]


@pytest.mark.parametrize(
    ("contact", "message"),
    [
        ("", "contact"),
        ("   ", "contact"),
        ("x" * 321, "at most 320"),
        ("a@b.c\nBcc: x@y.z", "control"),
        (None, "contact"),
    ],
)
def test_contacts_are_validated(registry: Registry, contact: Any, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        registry.request_optout("octo", "all", contact)


def test_registry_error_is_a_value_error() -> None:
    assert issubclass(RegistryError, ValueError)


def test_request_ids_are_random_not_sequential() -> None:
    ids = [new_request_id() for _ in range(200)]
    assert len(set(ids)) == 200 and all(re.fullmatch(r"[A-Za-z0-9_-]{24}", i) for i in ids)
    assert ids != sorted(ids)  # made in an order their values do not follow
    assert len({i[:6] for i in ids}) > 190  # no shared prefix or counter


def test_injection_strings_are_stored_verbatim_and_harmless(db_url: str) -> None:
    with Registry.open(db_url) as reg:
        req = reg.request_optout("octo", "all", INJECTION, actor=INJECTION)
        assert reg.get(req.id).contact == INJECTION  # type: ignore[union-attr]
        assert reg.get(INJECTION) is None
        assert reg.get("' OR '1'='1") is None
        with pytest.raises(RegistryError, match="no opt-out request"):
            reg.verify(INJECTION, actor="m")
        with pytest.raises(RegistryError, match="unknown verifier"):
            reg.verify(req.id, actor="m", verifier=INJECTION)
        with pytest.raises(RegistryError, match="unknown status"):
            reg.list(INJECTION)
        with pytest.raises(RegistryError, match="not a release version"):
            reg.mark_applied([req.id], INJECTION, actor="r")
        assert reg.confirm_tokens({INJECTION: INJECTION, f"octo/{INJECTION}": INJECTION}) == []
        other = reg.request_optout("octo", ["x"], CONTACT, actor=INJECTION)
        reg.reject(other.id, actor=INJECTION, reason=INJECTION)
        assert reg.get(other.id).reason == INJECTION  # type: ignore[union-attr]
        assert {e["actor"] for e in reg.audit()} == {INJECTION}
        assert len(reg.list()) == 2
    tables = set(inspect(create_engine(db_url)).get_table_names())
    assert {"optout_request", "optout_entry", "audit_log"} <= tables
    assert _raw(
        db_url, "SELECT contact FROM optout_request WHERE id = :id".replace(":id", f"'{req.id}'")
    ) == [(INJECTION,)]


# ---------------------------------------------------------------------------------------------------
# Matching and the ownership proof


def test_optout_set_matches_case_insensitively() -> None:
    optouts = OptOutSet(frozenset({"Octo-Cat"}), frozenset({"Alice/Tools"}))
    assert optouts.owners == {"octo-cat"} and optouts.repos == {"alice/tools"}
    for repo in ("octo-cat/x", "OCTO-CAT/Anything", "alice/tools", "ALICE/TOOLS"):
        assert optouts.matches(repo), repo
    for repo in ("octo-cats/x", "alice/tools2", "alice/other", "bob/octo-cat", "tools"):
        assert not optouts.matches(repo), repo
    assert optouts.reason("Octo-cat/y") == "owner" and optouts.reason("alice/Tools") == "repo"
    assert OptOutSet.from_json(optouts.to_json()) == optouts
    assert optouts.sha256 == OptOutSet(frozenset({"octo-cat"}), frozenset({"alice/tools"})).sha256
    assert optouts.sha256 != OptOutSet(frozenset({"octo-cat"})).sha256


def test_confirm_tokens_verifies_only_the_owners_pending_requests(registry: Registry) -> None:
    mine = registry.request_optout("Octo", "all", CONTACT)
    second = registry.request_optout("octo", ["a"], CONTACT)
    theirs = registry.request_optout("alice", "all", CONTACT)
    done = registry.request_optout("octo", ["b"], CONTACT)
    registry.reject(done.id, actor="m", reason="r")
    found = {
        "OCTO/some-repo": f"please remove my code\n{mine.challenge}\n",
        "bob/repo": theirs.challenge,  # alice's token in bob's repository proves nothing
        "octo/other": done.challenge,  # a rejected request stays rejected
    }
    assert registry.confirm_tokens(found, actor="ingest:test") == [mine.id]
    got = registry.get(mine.id)
    assert got is not None and (got.status, got.verifier, got.decided_by) == (
        "verified",
        "repository-token",
        "ingest:test",
    )
    assert registry.get(second.id).status == "pending"  # type: ignore[union-attr]
    assert registry.get(theirs.id).status == "pending"  # type: ignore[union-attr]
    assert registry.get(done.id).status == "rejected"  # type: ignore[union-attr]
    assert registry.audit(mine.id)[-1]["detail"] == {
        "from": "pending",
        "verifier": "repository-token",
        "repository": "octo/some-repo",
    }
    assert registry.confirm_tokens(found) == []  # already verified: nothing changes
    assert registry.confirm_tokens({}) == []


# ---------------------------------------------------------------------------------------------------
# Migrations, opening, URLs


def test_migrations_create_the_schema_and_reopen_idempotently(db_url: str) -> None:
    with Registry.open(db_url) as reg:
        req = reg.request_optout("octo", "all", CONTACT)
    engine = create_engine(db_url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {"optout_request", "optout_entry", "audit_log", "alembic_version"} <= tables
        with engine.connect() as conn:
            assert migrate.current_revision(conn) == migrate.head_revision()
            # The models and the migrated schema agree (nothing for autogenerate to add or drop).
            from alembic.autogenerate import compare_metadata
            from alembic.runtime.migration import MigrationContext

            assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    finally:
        engine.dispose()
    for create in (True, False, True):
        with Registry.open(db_url, create=create) as reg:
            assert [r.id for r in reg.list()] == [req.id]
    # Down to nothing and up again.
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            migrate.downgrade(conn, "base")
        assert not {"optout_request", "audit_log"} & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    with pytest.raises(RegistryError, match="not an opt-out registry"):
        Registry.open(db_url, create=False)
    with Registry.open(db_url) as reg:
        assert reg.list() == []


def test_open_without_create_never_makes_a_registry(tmp_path: Path) -> None:
    missing = tmp_path / "missing" / "registry.sqlite"
    with pytest.raises(RegistryError, match="does not exist"):
        Registry.open(f"sqlite:///{missing}", create=False)
    assert not missing.parent.exists()
    with Registry.open(f"sqlite:///{missing}") as reg:  # create=True makes the folder and the tables
        assert reg.list() == []
    assert missing.is_file()


def test_default_location_and_hidden_passwords(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STACKWRIGHT_DATA", str(tmp_path / "d"))
    assert default_url() == f"sqlite:///{tmp_path / 'd' / 'registry.sqlite'}"
    with Registry.open() as reg:
        assert reg.url == default_url()
    assert (tmp_path / "d" / "registry.sqlite").is_file()
    monkeypatch.setenv("STACKWRIGHT_REGISTRY", "postgresql://u:s3cret@db.example/optouts")
    assert default_url() == "postgresql://u:s3cret@db.example/optouts"
    assert safe_url(default_url()) == "postgresql+psycopg://u:***@db.example/optouts"
    dumped = json.dumps(BuildConfig(optout=OptOutConfig(registry=default_url())).model_dump())
    assert "s3cret" not in dumped and "u:***@db.example" in dumped
    for bad, message in (("mysql://u:s3cret@h/db", "unsupported"), ("not a url", "invalid registry URL")):
        with pytest.raises(RegistryError, match=message) as info:
            Registry.open(bad)
        assert "s3cret" not in str(info.value)


def test_unreachable_postgres_is_a_one_line_error_without_password() -> None:
    with pytest.raises(RegistryError) as info:
        Registry.open("postgresql://user:s3cret@127.0.0.1:1/optouts")
    message = str(info.value)
    assert "cannot use the opt-out registry" in message and "s3cret" not in message and "\n" not in message


# ---------------------------------------------------------------------------------------------------
# The optout step


def test_optout_step_drops_owners_and_repositories_case_insensitively() -> None:
    assert BuildConfig().steps[0] == "optout" and "optout" in STEP_FACTORIES
    repos = ["Octo-Cat/a", "octo-cat/b", "alice/Tools", "alice/tools", "alice/other", "bob/x", "octo-cats/y"]
    batch = pa.RecordBatch.from_pylist(
        [
            {
                "repo": r,
                "path": "f.py",
                "commit": None,
                "content": "x = 1\n",
                "size_bytes": 6,
                "extension": "py",
                "declared_license": None,
            }
            for r in repos
        ],
        schema=BASE_SCHEMA,
    )
    pipeline = build_pipeline(["optout"], BuildConfig())
    assert pipeline.needs == {"optout"}
    with pytest.raises(ValueError, match="needs the verified opt-outs"):
        pipeline.steps[0].process(batch, StepStats())  # an unbound step never lets files through
    optouts = OptOutSet(frozenset({"OCTO-CAT"}), frozenset({"Alice/TOOLS", "octo-cat/a"}))
    bound = pipeline.bind({"optout": optouts})
    stats = bound.new_stats()
    kept = bound.run(batch, stats)
    assert kept.column("repo").to_pylist() == ["alice/other", "bob/x", "octo-cats/y"]
    assert dict(stats["optout"].dropped) == {"owner": 2, "repo": 2}
    # Dictionary-encoded repositories (as read back from Parquet) are matched too.
    encoded = batch.set_column(
        0, pa.field("repo", pa.dictionary(pa.int32(), pa.string())), batch.column(0).dictionary_encode()
    )
    assert OptOutFilter(OptOutSet(frozenset({"bob"}))).process(encoded, StepStats()).num_rows == 6
    assert OptOutFilter(OptOutSet()).process(batch, StepStats()).num_rows == len(repos)


# ---------------------------------------------------------------------------------------------------
# Builds


def _git_repo(path: Path, files: dict[str, str], remote: str | None = None) -> None:
    git(path.parent, "init", "-q", path.name)
    for name, content in files.items():
        write(path / name, content)
    commit_all(path, "files")
    if remote:
        git(path, "remote", "add", "origin", remote)


CODE = "def answer():\n    return 42  # a line of ordinary code\n"


def _sources(root: Path) -> Path:
    src = root / "src"
    src.mkdir()
    _git_repo(src / "hello", {"main.py": CODE, "lib/util.py": CODE}, "https://github.com/Octo-Cat/hello.git")
    _git_repo(src / "world", {"main.py": CODE}, "git@github.com:octo-cat/World.git")
    _git_repo(src / "tools", {"main.py": CODE, "b.py": CODE}, "https://github.com/alice/Tools.git")
    _git_repo(src / "misc", {"main.py": CODE}, "https://github.com/alice/misc.git")
    return src


def _build(src: Path, out: Path, url: str | None, *extra: str) -> Any:
    env = cli_env(STACKWRIGHT_DATA=str(out.parent / "data"))
    env.pop("STACKWRIGHT_REGISTRY", None)
    if url is not None:
        env["STACKWRIGHT_REGISTRY"] = url
    return run_cli(
        "build",
        src,
        "--out",
        out,
        "--steps",
        "optout,drop_empty",
        "--workers",
        "2",
        "--json",
        "--no-progress",
        *extra,
        env=env,
    )


def test_build_drops_verified_optouts_and_records_them(db_url: str, tmp_path: Path) -> None:
    src = _sources(tmp_path)
    with Registry.open(db_url) as reg:
        owner = reg.request_optout("OCTO-CAT", "all", CONTACT)
        reg.verify(owner.id, actor="m")
        repo = reg.request_optout("alice", ["tools"], CONTACT)
        reg.verify(repo.id, actor="m")
        reg.request_optout("alice", ["misc"], CONTACT)  # pending: not honoured
        state = reg.registry_state()
    proc = _build(src, tmp_path / "out", db_url)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["dropped"] == {"optout:owner": 3, "optout:repo": 2}
    rows = read_rows(tmp_path / "out")
    assert sorted(r["repo"] for r in rows) == ["alice/misc"]
    manifest = read_manifest(tmp_path / "out")
    optouts = manifest["optouts"]
    assert optouts["registry"]["sha256"] == state["sha256"] == optouts["sha256"]
    assert optouts["registry"]["requests"] == {"pending": 1, "verified": 2, "rejected": 0, "applied": 0}
    assert optouts["removed"] == {"owner": 3, "repo": 2} and optouts["entries"] == 2
    text_of_manifest = (tmp_path / "out" / "manifest.json").read_text()
    assert CONTACT not in text_of_manifest and 'octo-cat"' not in text_of_manifest.lower()
    if "@" in db_url:  # PostgreSQL with a password: recorded without it, in config and state alike
        password = db_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
        assert password not in text_of_manifest and password not in proc.stdout + proc.stderr
        assert ":***@" in optouts["registry"]["url"]

    # A rerun is resumed; once the opt-outs change, the old shards are not reused.
    again = _build(src, tmp_path / "out", db_url)
    assert again.returncode == 0 and json.loads(again.stdout)["shards_resumed"] == 1
    with Registry.open(db_url) as reg:
        reg.verify(reg.list("pending")[0].id, actor="m")
    changed = _build(src, tmp_path / "out", db_url)
    assert_one_line_error(changed, "holds a build of other input or settings")


def test_token_file_in_a_repository_verifies_the_request_during_the_build(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    with Registry.open(url) as reg:
        octo = reg.request_optout("octo-cat", ["hello"], CONTACT)
        alice = reg.request_optout("alice", "all", CONTACT)
        bob = reg.request_optout("bob", "all", CONTACT)
    src = _sources(tmp_path)
    # octo-cat proves ownership in another of its repositories (case differs from the request);
    # alice's token is only in a subfolder, which proves nothing; bob's token sits in alice's repository.
    write(src / "world" / ".stackwright-optout", f"{octo.challenge}\n")
    write(src / "misc" / "docs" / ".stackwright-optout", alice.challenge)
    write(src / "tools" / ".stackwright-optout", bob.challenge)
    for name in ("world", "misc", "tools"):
        commit_all(src / name, "opt out")
    proc = _build(src, tmp_path / "out", url)
    assert proc.returncode == 0, proc.stderr
    with Registry.open(url) as reg:
        got = reg.get(octo.id)
        assert got is not None and (got.status, got.verifier) == ("verified", "repository-token")
        assert reg.get(alice.id).status == "pending"  # type: ignore[union-attr]
        assert reg.get(bob.id).status == "pending"  # type: ignore[union-attr]
        assert reg.audit(octo.id)[-1]["detail"]["repository"] == "octo-cat/world"
    # The request is honoured by the same build.
    assert json.loads(proc.stdout)["dropped"] == {"optout:repo": 2}
    assert "Octo-Cat/hello" not in {r["repo"] for r in read_rows(tmp_path / "out")}
    assert read_manifest(tmp_path / "out")["optouts"]["verified_at_ingest"] == 1


def test_build_without_a_registry_and_with_an_unusable_one(tmp_path: Path) -> None:
    src = _sources(tmp_path)
    proc = _build(src, tmp_path / "out", None)  # no default file: nothing opted out, and it says so
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["rows"] == 6
    assert read_manifest(tmp_path / "out")["optouts"]["registry"] is None
    assert not (tmp_path / "data").exists()  # a build never creates a registry

    missing = _build(src, tmp_path / "out2", f"sqlite:///{tmp_path / 'typo.sqlite'}")
    assert_one_line_error(missing, "opt-outs:", "does not exist")
    down = _build(src, tmp_path / "out3", "postgresql://u:s3cret@127.0.0.1:1/registry")
    line = assert_one_line_error(down, "opt-outs: cannot use the opt-out registry")
    assert "s3cret" not in line and not (tmp_path / "out3" / "data").exists()

    # The default SQLite file, once it exists, is honoured without any setting.
    with Registry.open(f"sqlite:///{tmp_path / 'data' / 'registry.sqlite'}") as reg:
        reg.verify(reg.request_optout("alice", "all", CONTACT).id, actor="m")
    proc = _build(src, tmp_path / "out4", None)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["dropped"] == {"optout:owner": 3}


# ---------------------------------------------------------------------------------------------------
# The CLI


def _cli(*args: str, db: str) -> Any:
    return run_cli("optout", *args, "--db", db)


def test_optout_commands(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.sqlite'}"
    added = _cli("add", "Octo-Cat", "hello", "octo-cat/World", "--contact", CONTACT, db=db)
    assert added.returncode == 0, added.stderr
    match = re.search(
        r"request (\S+): pending \(repositories: octo-cat/hello, octo-cat/world\)", added.stdout
    )
    assert match, added.stdout
    request_id = match.group(1)
    token = re.search(r"token: (stackwright-optout-\S+)", added.stdout)
    assert token and ".stackwright-optout" in added.stdout and CONTACT not in added.stdout

    every = _cli("add", "alice", "--all", "--contact", "https://alice.example", "--json", db=db)
    assert every.returncode == 0, every.stderr
    alice = json.loads(every.stdout)
    assert alice["scope"] == "all" and alice["challenge"].startswith("stackwright-optout-")
    assert "contact" not in alice

    listed = _cli("list", "--json", db=db)
    assert listed.returncode == 0
    assert [r["id"] for r in json.loads(listed.stdout)] == [request_id, alice["id"]]
    table = _cli("list", db=db)
    assert request_id in table.stdout and "alice" in table.stdout
    for out in (listed.stdout, table.stdout):
        assert CONTACT not in out and "alice.example" not in out

    shown = _cli("show", request_id, db=db)
    assert shown.returncode == 0 and token.group(1) in shown.stdout and CONTACT not in shown.stdout
    assert "requested" in shown.stdout
    with_contact = _cli("show", request_id, "--show-contact", "--json", db=db)
    assert json.loads(with_contact.stdout)["contact"] == CONTACT

    verified = _cli("verify", request_id, db=db)
    assert verified.returncode == 0 and "verified" in verified.stdout
    assert_one_line_error(_cli("verify", request_id, db=db), "is verified; only pending requests")
    rejected = _cli("reject", alice["id"], "--reason", "not the owner", db=db)
    assert rejected.returncode == 0 and "rejected" in rejected.stdout
    assert [r["status"] for r in json.loads(_cli("list", "--json", db=db).stdout)] == ["verified", "rejected"]
    assert json.loads(_cli("list", "--status", "pending", "--json", db=db).stdout) == []
    audit = json.loads(_cli("show", alice["id"], "--json", db=db).stdout)["audit"]
    assert [e["action"] for e in audit] == ["requested", "rejected"]
    assert audit[1]["actor"].startswith("cli")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("add", "octo", "--contact", CONTACT), ("name the repositories",)),
        (("add", "octo", "x", "--all", "--contact", CONTACT), ("not both",)),
        (("add", "octo_cat", "--all", "--contact", CONTACT), ("is not a GitHub user",)),
        (("add", "octo", "alice/x", "--contact", CONTACT), ("does not belong to octo",)),
        (("add", "octo", "--all", "--contact", ""), ("contact",)),
        (("show", "nope"), ("no opt-out request",)),
        (("verify", INJECTION), ("no opt-out request",)),
        (("reject", "nope", "--reason", "r"), ("no opt-out request",)),
        (("list", "--status", "done"), ("unknown status",)),
    ],
)
def test_optout_command_errors_are_one_line(
    tmp_path: Path, args: tuple[str, ...], needles: tuple[str, ...]
) -> None:
    url = f"sqlite:///{tmp_path / 'r.sqlite'}"
    Registry.open(url).close()
    assert_one_line_error(_cli(*args, db=url), *needles)


@pytest.mark.parametrize(
    "command", [("list",), ("show", "x"), ("verify", "x"), ("reject", "x", "--reason", "r")]
)
def test_only_add_creates_a_registry(tmp_path: Path, command: tuple[str, ...]) -> None:
    """Reading or deciding on a registry that does not exist is an error, not a new empty database."""
    url = f"sqlite:///{tmp_path / 'sub' / 'r.sqlite'}"
    assert_one_line_error(_cli(*command, db=url), "no opt-out registry")
    assert not (tmp_path / "sub").exists()


def test_optout_command_with_an_unusable_database(tmp_path: Path) -> None:
    line = assert_one_line_error(
        run_cli("optout", "list", "--db", "postgresql://u:s3cret@127.0.0.1:1/x"),
        "cannot use the opt-out registry",
    )
    assert "s3cret" not in line
    assert_one_line_error(run_cli("optout", "list", "--db", "mysql://h/x"), "unsupported")
    # $STACKWRIGHT_REGISTRY is the default database of the commands.
    env = cli_env(
        STACKWRIGHT_REGISTRY=f"sqlite:///{tmp_path / 'env.sqlite'}", STACKWRIGHT_DATA=str(tmp_path / "data")
    )
    proc = run_cli("optout", "add", "octo", "--all", "--contact", CONTACT, env=env)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "env.sqlite").is_file() and not (tmp_path / "data").exists()



def test_request_ids_never_look_like_options() -> None:
    """An id is typed on command lines (`stackwright optout verify ID`): one starting with "-" would be
    read as an option (one in 32 random ids did)."""
    from stackwright.registry.store import new_request_id

    ids = [new_request_id() for _ in range(2000)]
    assert all(i[0].isalnum() and len(i) == 24 for i in ids)
    assert len(set(ids)) == len(ids)
