"""The key locator: every key path of a TOML document maps to the line it is on."""

from __future__ import annotations

import tomllib

import tomli_w
from hypothesis import given
from hypothesis import strategies as st

from perfrules.rules._locate import locate

DOC = '''# comment
[scheme]
id = "x"   # trailing comment
title = """multi
line"""

[[bands]]
label = "优"
min = 90

[[bands]]
label = "良"
min = 80

[indicators."数量-平安建设"]
weight = 6
params = { target = 88, "quoted key" = 1 }
list = [
  1,
  { a = 2 },
]
a.b.c = 3

[groups.'literal']
weight = 1
'''


class TestLocate:
    def test_tables_arrays_of_tables_and_quoted_keys(self):
        m = locate(DOC)
        assert m.position(("scheme", "id")) == (3, 1)
        assert m.position(("scheme", "title")) == (4, 1)
        assert m.position(("bands", 0, "label")) == (8, 1)
        assert m.position(("bands", 1, "min")) == (13, 1)
        assert m.position(("indicators", "数量-平安建设", "weight")) == (16, 1)
        assert m.position(("groups", "literal", "weight")) == (25, 1)

    def test_inline_tables_arrays_and_dotted_keys(self):
        m = locate(DOC)
        assert m.position(("indicators", "数量-平安建设", "params", "target")) == (17, 12)
        assert m.position(("indicators", "数量-平安建设", "params", "quoted key")) == (17, 25)
        assert m.position(("indicators", "数量-平安建设", "list", 1, "a")) == (20, 5)
        assert m.position(("indicators", "数量-平安建设", "a", "b", "c")) == (22, 5)

    def test_unknown_paths_fall_back_to_the_nearest_ancestor(self):
        m = locate(DOC)
        assert m.position(("bands", 1, "nope")) == m.position(("bands", 1))
        assert m.position(("nothing",)) == (0, 0)

    def test_value_positions_inside_strings(self):
        text = 'f = "weight * (actual"\ng = """\nab\ncd"""\n'
        m = locate(text)
        assert m.value_position(("f",), 9) == (1, 15)
        assert m.value_position(("g",), 3) == (4, 1)

    def test_lines_end_only_at_newline(self):
        text = 'a = "x\u2028y"\nb = 1\n'
        assert locate(text).position(("b",)) == (2, 1)


_keys = st.text(alphabet=st.sampled_from("abcXYZ_-09 数量平安.\"'"), min_size=1, max_size=8)
_scalars = st.one_of(st.integers(-5, 5), st.text(alphabet="ab \"'\\数", max_size=5), st.booleans())
_documents = st.recursive(
    st.dictionaries(_keys, _scalars, max_size=4),
    lambda children: st.dictionaries(
        _keys,
        st.one_of(_scalars, children, st.lists(children, min_size=1, max_size=3)),
        max_size=4,
    ),
    max_leaves=20,
)


def _paths(data, prefix=()):
    for key, value in data.items():
        path = (*prefix, key)
        yield path, value
        if isinstance(value, dict):
            yield from _paths(value, path)
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for index, element in enumerate(value):
                yield from _paths(element, (*path, index))


@given(_documents)
def test_every_key_written_by_tomli_w_is_located_on_its_line(data):
    text = tomli_w.dumps(data)
    assert tomllib.loads(text) == data
    m = locate(text)
    lines = text.split("\n")
    for path, _ in _paths(data):
        line, column = m.position(path)
        assert line > 0, path
        key = path[-1]
        # The key (bare or quoted) starts at the reported column, or the line is the header.
        assert lines[line - 1].strip(), path
        assert column >= 1
        if key.isascii() and key.replace("_", "").replace("-", "").isalnum():
            assert key in lines[line - 1], (path, lines[line - 1])
