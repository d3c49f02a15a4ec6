"""The version of perfrules: the one place it is written (``pyproject.toml`` reads it here).

Every trace carries it, so it is a constant to import, not a lookup in the installed
package's metadata (``importlib.metadata`` is a fifth of a scoring command's own start).
"""

__version__ = "0.1.0"
