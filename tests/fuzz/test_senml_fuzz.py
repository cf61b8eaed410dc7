"""Random and mutated payloads into the OMA JSON, SenML JSON/CBOR and LwM2M CBOR decoders.

Every decoder must either return a value or raise DecodeError, never anything else; and every
payload it accepts must re-encode to one that decodes to the same value. Each decoder is seeded
with our own encodings of typed values for its request path, so the accepting side is reached.
The default run feeds 2000 cases per decoder; the slow run 100,000.
"""

from __future__ import annotations

import sys
from pathlib import Path as FsPath

import cbor2
import pytest

from lwm2m.coap.numbers import ContentFormat as CF
from lwm2m.formats import senml_cbor, senml_json
from lwm2m.model import Path

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared fuzz_support module
from fuzz_support import Target, fuzz, node_target

PATHS = ["/", "/3", "/3/0", "/3/0/0", "/3/0/7", "/3/0/7/1", "/1/0", "/2", "/4242/0"]
FORMATS = {
    "oma_json": CF.LWM2M_JSON,
    "senml_json": CF.SENML_JSON,
    "senml_cbor": CF.SENML_CBOR,
    "lwm2m_cbor": CF.LWM2M_CBOR,
}
TARGETS: dict[str, Target] = {
    f"{name} {p}": node_target(cf, Path.parse(p))
    for name, cf in FORMATS.items()
    for p in PATHS
    if not (cf == CF.LWM2M_JSON and p == "/")  # LwM2M 1.0 JSON has no composite form
}
for _fmt in (senml_json, senml_cbor):
    TARGETS[f"{_fmt.__name__} paths"] = Target(
        decode=_fmt.decode_paths,
        encode=_fmt.encode_paths,
        seeds=(
            _fmt.encode_paths([Path(3, 0, 0), Path(1), Path(3, 0, 7, 1)]),
            _fmt.encode_paths([Path(5, 0)]),
        ),
    )

# Valid but not canonical payloads (base time, relative times, nested maps), mutated too.
EXTRA = {
    "senml_json": [b'[{"bn":"/3/0/","bt":1e9,"n":"9","v":1,"t":-1},{"bn":"/1/0/6","vb":true}]'],
    "senml_cbor": [cbor2.dumps([{-2: "/3/0/", -3: 1.5, 0: "7/0", 2: 1.0, 6: 2}])],
    "lwm2m_cbor": [cbor2.dumps({3: {0: {13: cbor2.CBORTag(1, 5), (7, 0): 1}}})],
}


def _check(name: str, cases: int) -> None:
    accepted = fuzz(name, TARGETS[name], cases, EXTRA.get(name.split()[0], []))
    assert accepted > 0, f"{name}: no mutated or random payload was accepted"


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_decoders_reject_with_decode_error_and_round_trip(name: str) -> None:
    _check(name, 2000)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(TARGETS))
def test_decoders_reject_with_decode_error_and_round_trip_long(name: str) -> None:
    _check(name, 100_000)
