"""The one base of the errors a user can act on.

Every error the library raises for bad input, bad settings or a failed check derives from
:class:`StackwrightError`. The command line prints its message as one line on stderr and exits
with its ``exit_code``: 2 (bad usage or unreadable input) unless the error says otherwise.
"""

from __future__ import annotations

EXIT_FAILED_CHECK = 1
EXIT_USAGE = 2


class StackwrightError(Exception):
    """An error whose message is meant for the user: one line, no values of secrets or PII."""

    exit_code: int = EXIT_USAGE
