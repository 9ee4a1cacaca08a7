"""The ``stackwright`` command: one module per stage, one error handler for all of them.

Each stage module holds a Typer app of its commands (and groups), merged here into the one
application. Commands import the library inside their bodies, so ``stackwright --help`` loads
neither torch, pyarrow nor SQLAlchemy.

Errors: a ``StackwrightError`` raised anywhere below a command prints as ``error: <message>`` on one
line and exits with its ``exit_code`` (2: bad usage or unreadable input; 1: a failed check); so does a
usage error (a bad option value, a missing argument). Commands never catch the project's errors
themselves.
"""

from __future__ import annotations

import copy
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperGroup
from typer.exceptions import TyperException

from stackwright import __version__
from stackwright.cli import (
    build,
    crawl,
    curate,
    dedup,
    demo,
    encoder,
    evaluate,
    finetune,
    humaneval,  # noqa: F401  (adds "eval humaneval" to evaluate's group)
    model,
    optout,
    portal,
    release,
    serve,
    train,
)
from stackwright.cli._common import fail, out
from stackwright.errors import StackwrightError


def _one_line(exc: TyperException) -> str:
    return " ".join(exc.format_message().split())


def _is_help(exc: TyperException) -> bool:
    """``no_args_is_help`` is signalled as a usage error whose message is the help text: shown as it is."""
    return type(exc).__name__ == "NoArgsIsHelpError"


class StackwrightGroup(TyperGroup):
    """The root group: the project's errors and usage errors become one line on stderr."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except TyperException as exc:
            if _is_help(exc):
                raise
            fail(_one_line(exc), exc.exit_code)

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except TyperException as exc:  # usage errors: a bad option value, a missing argument, ...
            if _is_help(exc):
                raise
            fail(_one_line(exc), exc.exit_code)
        except StackwrightError as exc:
            fail(str(exc), exc.exit_code)


app = typer.Typer(
    name="stackwright",
    cls=StackwrightGroup,
    help="Build code datasets and models from permissively licensed, consented code.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[default: CPU count]" is text, not a markup tag
)


def _version(value: bool) -> None:
    if value:
        out.print(f"stackwright {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """stackwright: consent-first, license-aware code datasets and models."""


# In lifecycle order, as `stackwright --help` lists them.
for _stage in (crawl, build, demo, curate, dedup, release, optout, portal, model, train, finetune, encoder,
               evaluate, serve):
    app.add_typer(_stage.app)


def _command_name(command: Any) -> str:
    return command.name or command.callback.__name__.lower().replace("_", "-")


def app_for(args: list[str]) -> typer.Typer:
    """The application with only the top-level command or group that ``args`` starts with, else (options,
    no name, a name no stage has) the whole one. Typer builds every command's parameters from its
    signature before it parses anything, a tenth of a second for all of them; one group is a few ms.
    What runs, its help and its errors are those of the whole application."""
    name = args[0] if args else ""
    if not name or name.startswith("-"):
        return app
    for info in app.registered_groups:
        stage = info.typer_instance
        if stage is None:
            continue
        groups = [g for g in stage.registered_groups if g.name == name]
        commands = [c for c in stage.registered_commands if _command_name(c) == name]
        if groups or commands:
            one = copy.copy(stage)
            one.registered_groups, one.registered_commands = groups, commands
            root = copy.copy(app)
            only = copy.copy(info)
            only.typer_instance = one
            root.registered_groups = [only]
            return root
    return app


def run() -> None:
    try:
        app_for(sys.argv[1:])()
    except BrokenPipeError:
        sys.exit(0)
