"""The direct SenML CBOR writer gives exactly the bytes cbor2 gives for the same records."""

from __future__ import annotations

import math

import cbor2
from hypothesis import given
from hypothesis import strategies as st

from lwm2m.formats import senml, senml_cbor
from lwm2m.model import ObjLink

VALUES = st.one_of(
    st.tuples(st.just(senml.NUM), st.integers(min_value=-(2**64), max_value=2**64 - 1)),
    st.tuples(st.just(senml.NUM), st.floats()),
    st.tuples(st.just(senml.STR), st.text()),
    st.tuples(st.just(senml.BOOL), st.booleans()),
    st.tuples(st.just(senml.DATA), st.binary(max_size=300)),
    st.tuples(
        st.just(senml.OBJLNK),
        st.builds(ObjLink, st.integers(0, 65535), st.integers(0, 65535)),
    ),
)
LEAVES = st.lists(
    st.tuples(st.sampled_from(["", "0", "11/0", "/3/0/13", "x" * 40]), VALUES).map(
        lambda t: (t[0], t[1][0], t[1][1])
    ),
    max_size=30,
)


def reference(bn: str, items: list[senml.Leaf]) -> bytes:
    keys = senml_cbor._KEYS
    out = []
    for name, kind, value in items:
        v = str(value) if kind == senml.OBJLNK else value
        out.append({0: name, keys[kind]: v} if name else {keys[kind]: v})
    if bn and out:
        out[0] = {-2: bn, **out[0]}
    return cbor2.dumps(out)


@given(st.sampled_from(["", "/3/0/", "/" + "9" * 40]), LEAVES)
def test_direct_records_match_cbor2(bn: str, items: list[senml.Leaf]) -> None:
    fast = senml_cbor._encode_records(bn, items)
    if fast is not None:  # None: the encoder hands the records to cbor2
        assert fast == reference(bn, items)
    else:
        assert any(isinstance(v, float) and not math.isfinite(v) for _, _, v in items)


def test_repeated_text_records_stay_correct() -> None:
    items: list[senml.Leaf] = [("0", senml.STR, "ACME"), ("1", senml.STR, "M1")]
    first = senml_cbor._encode_records("/3/0/", items)
    again = senml_cbor._encode_records("/3/0/", items)
    other = senml_cbor._encode_records("", [("0", senml.STR, "Other")])
    assert first == again == reference("/3/0/", items)
    assert other == reference("", [("0", senml.STR, "Other")])
