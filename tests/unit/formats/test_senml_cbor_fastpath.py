"""The whole-record cache of the direct SenML CBOR writer never mixes up equal values.

Text and integer records are cached by (name, kind, value); 1, 1.0 and True are equal
in Python, so only values of exactly type str or int may share a cached record.
"""

from __future__ import annotations

import cbor2
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.formats import senml, senml_cbor

EQUAL_VALUES: list[senml.Leaf] = [
    ("9", senml.NUM, 1),
    ("9", senml.NUM, 1.0),
    ("9", senml.BOOL, True),
    ("9", senml.NUM, 1),
    ("9", senml.STR, "1"),
    ("9", senml.NUM, 0),
    ("9", senml.NUM, 0.0),
    ("9", senml.BOOL, False),
    ("9", senml.NUM, -0.0),
]


def _reference(leaf: senml.Leaf) -> bytes:
    name, kind, value = leaf
    return cbor2.dumps([{0: name, senml_cbor._KEYS[kind]: value}])


def test_equal_values_of_other_types_do_not_share_a_record() -> None:
    for _ in range(2):  # the second round reads every record from the cache
        for leaf in EQUAL_VALUES:
            assert senml_cbor._encode_records("", [leaf]) == _reference(leaf), leaf


@given(st.lists(st.sampled_from(EQUAL_VALUES), min_size=1, max_size=12))
def test_any_order_of_equal_values_matches_cbor2(items: list[senml.Leaf]) -> None:
    expected = cbor2.dumps([{0: n, senml_cbor._KEYS[k]: v} for n, k, v in items])
    assert senml_cbor._encode_records("", items) == expected
