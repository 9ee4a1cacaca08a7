"""``python -m stackwright.cli``: the same as the ``stackwright`` command."""

from stackwright.cli import run

run()
