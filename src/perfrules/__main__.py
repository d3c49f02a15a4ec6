"""``python -m perfrules``: the same as the ``perfrules`` command."""

from perfrules.cli import run

run()
