"""The Python API reference: generated from the docstrings, every public name on a page.

The site's build (``mkdocs build --strict``, part of ``make test``) renders the pages; these
tests hold what the build would let through: a public name left off, a docstring example
that no longer runs, a build that needs the network.
"""

from __future__ import annotations

import doctest
import re
import socket
import tomllib

import pytest
import yaml

import perfrules
import perfrules.dask
import perfrules.testing
from conftest import ROOT

API = ROOT / "docs" / "reference" / "api"
#: Modules of the top-level ``__all__`` documented by their members, not as a whole.
MODULES = {"errors", "expressions", "model", "trace", "__version__"}


def _documented() -> set[str]:
    """Every ``::: name`` directive of the API pages."""
    names = set()
    for page in API.glob("*.md"):
        names |= set(re.findall(r"^::: ([\w.]+)$", page.read_text(encoding="utf-8"), re.MULTILINE))
    return names


def test_every_public_name_has_its_place_in_the_reference():
    documented = _documented()
    missing = [
        f"perfrules.{name}"
        for name in perfrules.__all__
        if name not in MODULES and f"perfrules.{name}" not in documented
    ]
    assert missing == []
    # perfrules.testing and perfrules.dask are documented whole: each name of their __all__.
    assert {"perfrules.testing", "perfrules.dask"} <= documented
    assert perfrules.testing.__all__
    assert perfrules.dask.__all__ == ["read_csv", "score_dask", "to_parquet"]


def test_the_reference_is_in_the_navigation_and_the_readme():
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in API.glob("*.md"):
        assert f"reference/api/{page.name}" in config, page.name
    assert "docs/reference/api/index.md" in (ROOT / "README.md").read_text(encoding="utf-8")
    assert "reference/api/index.md" in (ROOT / "docs" / "index.md").read_text(encoding="utf-8")


def test_the_docs_extra_installs_the_generator():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    for extra in ("docs", "dev"):
        wanted = project["optional-dependencies"][extra]
        assert any(d.startswith("mkdocstrings[python]") for d in wanted), extra


def test_the_generator_fetches_nothing():
    # No inventories of other sites: the build reads the sources only, offline.
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    plugins = yaml.safe_load(config.replace("!!python", "#"))["plugins"]
    (handler,) = [
        p["mkdocstrings"] for p in plugins if isinstance(p, dict) and "mkdocstrings" in p
    ]
    python = handler["handlers"]["python"]
    assert "inventories" not in python
    assert "import" not in python


def _examples() -> list[doctest.DocTest]:
    finder = doctest.DocTestFinder()
    objects = [getattr(perfrules, n) for n in perfrules.__all__ if n not in MODULES]
    found = []
    for obj in [perfrules, *objects, perfrules.testing, perfrules.dask]:
        name = getattr(obj, "__qualname__", getattr(obj, "__name__", str(obj)))
        found += [t for t in finder.find(obj, name, globs={"perfrules": perfrules}) if t.examples]
    return found


@pytest.mark.parametrize("test", _examples(), ids=lambda t: t.name)
def test_the_examples_in_the_reference_run(test, monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples name the shipped rule files from the checkout
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    runner.run(test)
    assert runner.failures == 0, test.name


def test_the_site_with_the_reference_builds_offline(tmp_path, monkeypatch):
    from mkdocs.commands.build import build
    from mkdocs.config import load_config

    def no_network(*args, **kwargs):
        raise OSError("the documentation build must not use the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the Chinese search's word cache
    monkeypatch.setenv("NO_MKDOCS_2_WARNING", "1")
    monkeypatch.chdir(ROOT)
    site = tmp_path / "site"
    build(load_config(str(ROOT / "mkdocs.yml"), site_dir=str(site), strict=True))
    page = (site / "reference" / "api" / "scoring" / "index.html").read_text(encoding="utf-8")
    assert 'id="perfrules.score_table"' in page
    assert "errors" in page
    assert ":func:" not in page  # the docstrings' roles are shown as code
    loading = (site / "reference" / "api" / "loading" / "index.html").read_text(encoding="utf-8")
    assert 'id="perfrules.load_pack"' in loading
