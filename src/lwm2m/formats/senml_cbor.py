"""SenML CBOR, content format 112 (RFC 8428 section 6; LwM2M Core TS 1.1 section 7.4.6).

The records of :mod:`lwm2m.formats.senml_json` with integer labels
(RFC 8428 Table 6): bn -2, bt -3, n 0, t 6, v 2, vs 3, vb 4, vd 8; LwM2M's
Objlnk value keeps the text label ``"vlo"``. ``vd`` is a CBOR byte string.

Canonical form emitted by :func:`encode`: the naming of the JSON form (first
record ``bn`` = request path, relative ``n``; single values ``bn`` only;
composite records full ``n``), map keys in the order bn, n, value, definite
lengths, integers in their shortest form, floats always as 64-bit (major
type 7, additional info 27). Decoding accepts any valid SenML CBOR: half and
single floats, indefinite lengths, bignum-free integers, base name changes.
Trailing bytes after the array are an error.
"""

from __future__ import annotations

import io

import cbor2

from lwm2m.errors import DecodeError, EncodeError
from lwm2m.formats import senml
from lwm2m.model import Node, Path, Records, Registry

# RFC 8428 section 6, Table 6
BN = -2
BT = -3
NAME = 0
TIME = 6
V = 2
VS = 3
VB = 4
VD = 8
VLO = "vlo"

DIALECT = senml.Dialect(
    name="SenML CBOR",
    fields={
        BN: senml.BN,
        BT: senml.BT,
        NAME: senml.N,
        TIME: senml.T,
        V: senml.NUM,
        VS: senml.STR,
        VB: senml.BOOL,
        VD: senml.DATA,
        VLO: senml.OBJLNK,
    },
    labels=("v(2)", "vs(3)", "vb(4)", "vd(8)", "vlo", "v(2)", "bn(-2)", "bt(-3)", "n(0)", "t(6)"),
)
_KEYS: tuple[int | str, ...] = (V, VS, VB, VD, VLO, V)


def load_cbor(payload: bytes, what: str) -> object:
    """Decode exactly one CBOR data item; DecodeError on any failure or trailing bytes."""
    fp = io.BytesIO(payload)
    try:
        obj = cbor2.load(fp)
    except Exception as exc:  # cbor2 raises several types; all mean a bad payload
        raise DecodeError(f"{what}: {exc}") from None
    end = fp.tell()
    if end != len(payload):
        raise DecodeError(f"{what}: {len(payload) - end} trailing bytes", end)
    return obj


def dump_cbor(obj: object) -> bytes:
    try:
        return cbor2.dumps(obj)
    except Exception as exc:  # defensive: values were checked before
        raise EncodeError(f"cannot encode as CBOR: {exc}") from None


def encode(node: Node | Records, path: Path, registry: Registry) -> bytes:
    bn, items = senml.leaves(node, path, registry)
    keys = _KEYS
    objlnk = senml.OBJLNK
    out: list[dict[int | str, object]] = [
        {NAME: name, keys[kind]: str(value) if kind == objlnk else value}
        if name
        else {keys[kind]: str(value) if kind == objlnk else value}
        for name, kind, value in items
    ]
    if bn and out:
        out[0] = {BN: bn, **out[0]}
    return dump_cbor(out)


def decode(payload: bytes, path: Path, registry: Registry) -> Node | Records:
    return senml.decode_items(load_cbor(payload, DIALECT.name), DIALECT, path, registry)


def encode_paths(paths: list[Path]) -> bytes:
    """The body of a Read-Composite / Observe-Composite request: ``[{0: "/3/0/0"}, ...]``."""
    out = []
    for p in paths:
        if not isinstance(p, Path) or not p:
            raise EncodeError(f"{p!r} is not a non-root LwM2M path")
        out.append({NAME: str(p)})
    return dump_cbor(out)


def decode_paths(payload: bytes) -> list[Path]:
    return senml.decode_path_items(load_cbor(payload, DIALECT.name), DIALECT)
