"""What an application embedding perfrules may hand it by mistake: each is a located error.

None where a unit was meant, keys that are not text, numpy's scalars, a body that never
arrived: never a traceback, never a file read from the server's folder, never a wrong number.
"""

from __future__ import annotations

import json

import pytest

import perfrules


def _ids(compiled: perfrules.CompiledScheme) -> list[str]:
    return list(compiled.scheme.indicators)


def test_keys_that_are_not_text_are_written_in_the_json_of_the_error(seed_compiled):
    facts = {"indicators": {(1, 2): {"actual": "90%"}, None: {}, 1.5: {}}}
    with pytest.raises(perfrules.FactsError) as caught:
        seed_compiled.evaluate(facts)
    problems = json.loads(caught.value.to_json("en"))
    unknown = {p["key"] for p in problems if p["code"] == "PR403"}
    assert unknown == {'indicators."(1, 2)"', "indicators.None", 'indicators."1.5"'}
