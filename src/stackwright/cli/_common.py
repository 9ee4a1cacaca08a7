"""What every command shares: the consoles, one-line errors, option types, tables and JSON output.

Commands parse, call one library function and print. They print data with :func:`print_json` or a
table, and report errors with :func:`fail`; the project's own errors (``StackwrightError``) need no
handling in a command at all: the application's one handler prints them (see ``cli/__init__.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from enum import Enum, StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.table import Table

from stackwright.errors import EXIT_FAILED_CHECK, EXIT_USAGE

__all__ = ["EXIT_FAILED_CHECK", "EXIT_USAGE"]

err = Console(stderr=True)
out = Console()

# Text from the input (paths, names, messages) printed as it is: no markup, no highlighting, no wrap.
PLAIN: dict[str, Any] = {"highlight": False, "markup": False, "soft_wrap": True}


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """One line on stderr and the exit code. The message is plain text, never markup: paths, names and
    errors from the input print as they are (``stackwright[portal]``, ``[bold]`` in a file name)."""
    from rich.markup import escape

    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


TRAINING_MODULES = ("torch", "accelerate", "transformers", "tokenizers")


def need_extra(modules: Iterable[str], what: str, extra: str = "model") -> None:
    """A one-line error naming the missing package when ``what`` needs an extra that is not installed."""
    import importlib.util

    for name in modules:
        if importlib.util.find_spec(name) is None:
            fail(f"{what} needs the {extra} extra ({name} is missing): pip install 'stackwright[{extra}]'")


def say(message: str) -> None:
    """A line of progress on stderr."""
    err.print(message, **PLAIN)


def print_json(data: Any, *, indent: int | None = 2) -> None:
    print(json.dumps(data, indent=indent))


def key_value_table(title: str, rows: Iterable[tuple[str, str]]) -> Table:
    """A two-column table of names and right-aligned figures, as build, release and crawl print."""
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column(style="bold")
    table.add_column(justify="right")
    for name, value in rows:
        table.add_row(name, value)
    return table


def command_group(parent: typer.Typer, name: str, help: str, **options: Any) -> typer.Typer:
    """A group of sub-commands (``stackwright NAME ...``) added to a stage's app; with no
    sub-command it shows its help."""
    group = typer.Typer(help=help, no_args_is_help=True, **options)
    parent.add_typer(group, name=name)
    return group


def plural(n: int, word: str) -> str:
    if n == 1:
        return f"{n:,} {word}"
    return f"{n:,} {word[:-1]}ies" if word.endswith("y") else f"{n:,} {word}s"


# ---------------------------------------------------------------------------------------------------
# Option types


class Names(tuple):  # of str
    """A comma-separated list given as one option value (``--steps a,b``), empty items left out."""


def comma_list(value: str | Names) -> Names:
    if isinstance(value, Names):
        return value
    return Names(item.strip() for item in str(value).split(",") if item.strip())



E = TypeVar("E", bound=Enum)


def words(items: Iterable[str]) -> str:
    """``a, b or c``."""
    items = list(items)
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} or {items[-1]}"


def choice(enum: type[E], noun: str) -> Callable[[str | E], E]:
    """A parser for an Enum option whose error names what was wrong in one line:
    ``unknown executor 'spark'; use local or ray``."""

    def parse(value: str | E) -> E:
        if isinstance(value, enum):
            return value
        try:
            return enum(value)
        except ValueError:
            allowed = words(str(m.value) for m in enum)
            raise typer.BadParameter(f"unknown {noun} {value!r}; use {allowed}") from None

    return parse


def metavar(enum: type[Enum]) -> str:
    return "|".join(str(m.value) for m in enum)


class Executor(StrEnum):
    local = "local"
    ray = "ray"


class FimLayout(StrEnum):
    psm = "psm"
    spm = "spm"


# Options that many commands take, spelled once.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
ProgressFlag = Annotated[bool, typer.Option(help="Show a progress bar.")]
Workers = Annotated[int | None, typer.Option(min=1, help="Parallel workers [default: CPU count].")]
ExecutorOption = Annotated[Executor | None, typer.Option(
    parser=choice(Executor, "executor"), metavar=metavar(Executor), help="local (process pool) or ray.")]
ConfigFile = Annotated[Path | None, typer.Option("--config", help="TOML or JSON settings file.")]


def value_of(option: Enum | None) -> Any:
    return None if option is None else option.value


# ---------------------------------------------------------------------------------------------------
# Text arguments

MAX_TEXT_INPUT = 256_000_000  # a file or standard input given to scan, redact or look up


def read_text_argument(source: str | Path) -> str:
    """The text of a file a command was given (``-``: standard input), decoded as license and PII tools
    decode files (BOMs, UTF-16, legacy 8-bit encodings); a one-line error when it is not text."""
    from stackwright.files import read_user_bytes

    text = decode_text(read_user_bytes(source, MAX_TEXT_INPUT))
    if text is None:
        fail(f"{source}: not decodable text")
    return text


def decode_text(data: bytes) -> str | None:
    """``decode_license_bytes``, with plain UTF-8 (the usual case) decoded here: without the BOM, as the
    license decoder gives it, and without loading the license matcher at start-up."""
    if not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-8").removeprefix("\ufeff")
        except UnicodeDecodeError:
            pass
    from stackwright.curate.licenses.matcher import decode_license_bytes

    return decode_license_bytes(data)


@contextmanager
def progress_bar(description: str, enabled: bool, unit: str = "") -> Iterator[Callable[[int, int], None]]:
    """A progress bar on stderr while the block runs; yields ``update(done, total)``."""
    if not enabled:
        yield lambda _done, _total: None
        return
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

    columns = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(),
               TextColumn("{task.completed:,.0f}/{task.total:,.0f}" + (f" {unit}" if unit else "")),
               TimeRemainingColumn()]
    with Progress(*columns, console=err, transient=True) as bar:
        task = bar.add_task(description, total=1)
        yield lambda done, total: bar.update(task, completed=done, total=total)
