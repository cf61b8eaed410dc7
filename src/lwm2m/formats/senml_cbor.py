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
import math
import struct
from typing import cast

import cbor2

from lwm2m.errors import DecodeError, EncodeError
from lwm2m.formats import senml
from lwm2m.model import Node, Path, Records, Registry

# RFC 8428 section 6, Table 6
BN = -2
BT = -3
BVER = -1
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
        BVER: senml.BVER,
        V: senml.NUM,
        VS: senml.STR,
        VB: senml.BOOL,
        VD: senml.DATA,
        VLO: senml.OBJLNK,
    },
    labels=(
        "v(2)",
        "vs(3)",
        "vb(4)",
        "vd(8)",
        "vlo",
        "v(2)",
        "bn(-2)",
        "bt(-3)",
        "n(0)",
        "t(6)",
        "bver(-1)",
    ),
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


# --- direct encoding -------------------------------------------------------------
# The records of a Read are small maps of a few known shapes; writing their bytes
# here (with the constant part of each record cached by name and kind) is about
# twice as fast as building dicts for cbor2. The bytes are exactly what cbor2
# writes for the same records (RFC 8949 preferred integer and length encoding,
# 64-bit floats, cbor2's half-precision NaN and infinities); anything unusual
# takes the cbor2 path.


_ARG8 = struct.Struct(">BB").pack
_ARG16 = struct.Struct(">BH").pack
_ARG32 = struct.Struct(">BI").pack
_ARG64 = struct.Struct(">BQ").pack


def _head(major: int, n: int) -> bytes:
    """A CBOR initial byte and argument (RFC 8949 section 3), 0 <= n < 2**64."""
    m = major << 5
    if n < 24:
        return bytes((m | n,))
    if n < 0x100:
        return _ARG8(m | 24, n)
    if n < 0x10000:
        return _ARG16(m | 25, n)
    if n < 0x100000000:
        return _ARG32(m | 26, n)
    return _ARG64(m | 27, n)


_UINT64_MAX = 2**64 - 1
_ARRAY_HEADS = tuple(_head(4, n) for n in range(256))
_TEXT_HEADS = tuple(_head(3, n) for n in range(256))
_BYTES_HEADS = tuple(_head(2, n) for n in range(256))
_UINT_HEADS = tuple(_head(0, n) for n in range(256))
_FLOAT64 = struct.Struct(">Bd").pack
_TRUE, _FALSE = b"\xf5", b"\xf4"


def _text(s: str) -> bytes:
    data = s.encode()
    n = len(data)
    return (_TEXT_HEADS[n] if n < 256 else _head(3, n)) + data


def _key(label: int | str) -> bytes:
    if isinstance(label, str):
        return _text(label)
    return _head(0, label) if label >= 0 else _head(1, -1 - label)


_VALUE_KEYS = tuple(_key(k) for k in _KEYS)
_NAME_KEY = _key(NAME)
_BN_KEY = _key(BN)
# kind -> name -> the bytes of a record up to its value; bounded like senml's caches
_PREFIXES: tuple[dict[str, bytes], ...] = tuple({} for _ in _KEYS)
_PREFIXES_SIZE = 2048
# (base name, first record) -> the first record with the base name
_FIRSTS: dict[tuple[str, bytes], bytes] = {}
# (name, kind, text or int) -> the whole record: names and most values repeat from one
# Read or notification to the next. Only leaves whose value is exactly a str or an int
# are looked up, so equal values of other types (1.0, True) never share a record.
_RECORDS: dict[senml.Leaf, bytes] = {}


def _prefix(name: str, kind: int) -> bytes:
    if name:
        prefix = b"\xa2" + _NAME_KEY + _text(name) + _VALUE_KEYS[kind]
    else:
        prefix = b"\xa1" + _VALUE_KEYS[kind]
    cache = _PREFIXES[kind]
    if len(cache) >= _PREFIXES_SIZE:
        cache.clear()
    cache[name] = prefix
    return prefix


def _value(kind: int, value: object) -> bytes | None:
    """The CBOR bytes of one record value, None when it needs the cbor2 path."""
    t = type(value)
    if t is str:
        return _text(cast(str, value))
    if t is int:
        number = cast(int, value)
        if number >= 0:
            if number < 256:
                return _UINT_HEADS[number]
            return _head(0, number) if number <= _UINT64_MAX else None
        return _head(1, -1 - number) if -1 - number <= _UINT64_MAX else None
    if t is bool:
        return _TRUE if value else _FALSE
    if t is float:
        real = cast(float, value)
        return _FLOAT64(0xFB, real) if math.isfinite(real) else None
    if t is bytes:
        data = cast(bytes, value)
        n = len(data)
        return (_BYTES_HEADS[n] if n < 256 else _head(2, n)) + data
    if kind == senml.OBJLNK:
        return _text(str(value))
    return None


def _record(leaf: senml.Leaf) -> bytes | None:
    name, kind, value = leaf
    if not 0 <= kind < len(_VALUE_KEYS):
        return None
    encoded = _value(kind, value)
    if encoded is None:
        return None
    record = (_PREFIXES[kind].get(name) or _prefix(name, kind)) + encoded
    if len(_RECORDS) >= _PREFIXES_SIZE:
        _RECORDS.clear()
    _RECORDS[leaf] = record
    return record


def _encode_records(bn: str, items: list[senml.Leaf]) -> bytes | None:
    """The SenML CBOR array of ``items``; None when a value needs the cbor2 path."""
    n = len(items)
    parts = [_ARRAY_HEADS[n] if n < 256 else _head(4, n)]
    append = parts.append
    prefixes = _PREFIXES
    get_record = _RECORDS.get
    for leaf in items:
        name, kind, value = leaf
        t = type(value)
        if t is str or t is int:
            record = get_record(leaf) or _record(leaf)
            if record is None:
                return None
            append(record)
            continue
        if not 0 <= kind < len(_VALUE_KEYS):
            return None
        encoded = _value(kind, value)
        if encoded is None:
            return None
        append(prefixes[kind].get(name) or _prefix(name, kind))
        append(encoded)
    if bn and n:
        parts[1] = _FIRSTS.get((bn, parts[1])) or _with_base_name(bn, parts[1])
    return b"".join(parts)


def _with_base_name(bn: str, first: bytes) -> bytes:
    """The first record with the base name as its first entry: one more map pair."""
    record = bytes((first[0] + 1,)) + _BN_KEY + _text(bn) + first[1:]
    if len(_FIRSTS) >= _PREFIXES_SIZE:
        _FIRSTS.clear()
    _FIRSTS[bn, first] = record
    return record


def encode(node: Node | Records, path: Path, registry: Registry) -> bytes:
    bn, items = senml.leaves(node, path, registry)
    try:
        fast = _encode_records(bn, items)
    except UnicodeEncodeError:
        fast = None  # cbor2 raises the error
    if fast is not None:
        return fast
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
        if not isinstance(p, Path):  # the root "/" is allowed: every object
            raise EncodeError(f"{p!r} is not an LwM2M path")
        out.append({NAME: str(p)})
    return dump_cbor(out)


def decode_paths(payload: bytes) -> list[Path]:
    return senml.decode_path_items(load_cbor(payload, DIALECT.name), DIALECT)
