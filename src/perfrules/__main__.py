"""``python -m perfrules``: the same as the ``perfrules`` command."""

from perfrules._cli import main

main()
