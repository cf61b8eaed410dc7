"""Decoder scaling benchmark: the worst inputs we know at 10 kB and at 1 MB, time ratio per decoder.

Every decoder that reads peer or user input is fed adversarial shapes: long runs of
digits that a backtracking pattern retries, deep nesting, many tiny entries, long
strings, white space, a bad byte at the very end. Each shape is timed at two sizes,
``--small`` (10 kB) and ``--large`` (1 MB, 100 times more). Linear work gives a ratio
near 100 (less when fixed costs weigh on the small input), quadratic work near 10,000.
The builders come close to the sizes asked for, not to the byte, so the ratio printed is
the time ratio for exactly 100 times the bytes (the per-byte time ratio times 100).
A decoder's figure is the ratio of its worst shape; the target is at most 150 for every
decoder. Rejected inputs must raise the package's DecodeError or ModelError: any other
exception stops the benchmark.

Baseline, measured in the same run: ``json.loads`` of a flat array of numbers of the same
two sizes (a linear C decoder), the ratio linear work has on this machine.

How the figures are kept to the decoders' own work:

- each is the best of ``--repeats`` rounds that alternate the two sizes (twice as many
  when the large decode takes less than 0.1 s, one less when it takes over 0.3 s); a
  small input is decoded in a loop of at least 20 ms per round, the large one once;
- the small size decodes 16 variants in turn, with other resource ids, so that the
  decoders' bounded caches of names and paths help a small payload no more than a large
  one (see :func:`iid`);
- the process first touches and frees a heap of some 64 MB that it keeps (see
  :func:`warm_heap`): without it a 1 MB decode pays a page fault on fresh memory that
  a 10 kB decode never pays.

Left out: a single JSON object, CBOR map or XML element of 100,000 members or distinct
names. Their time goes to the C parsers' hash tables (``json.loads``, cbor2, expat), which
outgrow the processor's caches (``json.loads`` of one such object shows 150 to 400 here),
not to our code; the same members come as many records, maps or elements of 50 to 100.

The last line is

    RESULT worst_ratio=<x> decoder=<name> all_under_150=<yes|no>

Run: ``python benchmarks/decode_scaling.py [--small 10000] [--large 1000000] [--repeats 3]``
(``--small 1000 --large 10000 --repeats 1 --round 0.002`` is a quick check that it runs.)
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import logging
import math
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path as FsPath

import cbor2

sys.path.insert(0, str(FsPath(__file__).resolve().parent))  # the shared _common module
from _common import result_line
from lwm2m.errors import DecodeError, ModelError
from lwm2m.formats import cbor, link, lwm2m_cbor, oma_json, senml_cbor, senml_json, text, tlv
from lwm2m.model import ObjectDef, Operations, Path, Registry, ResourceDef, ResourceType
from lwm2m.model.ddf import load_ddf_bytes

TARGET = 150.0
ROUND = 0.02  # seconds of small-input decoding per round (default of --round)
VARIANTS = 16  # small inputs of one shape, decoded in turn
QUICK = 0.1  # seconds: a quicker large decode gets twice the rounds
SLOW = 0.3  # seconds: a slower one a round less

# --- the data model the payloads address ---------------------------------------------

OID = 10242
_T = ResourceType
_TYPES = {
    0: _T.STRING,
    1: _T.INTEGER,
    2: _T.UNSIGNED_INTEGER,
    3: _T.FLOAT,
    4: _T.BOOLEAN,
    5: _T.OPAQUE,
    6: _T.TIME,
    7: _T.OBJLNK,
    8: _T.CORELNK,
}
_MULTI = {9: _T.INTEGER, 10: _T.STRING}


def registry() -> Registry:
    """One object with a single resource of every type and two multiple ones."""
    resources = {rid: ResourceDef(rid, f"r{rid}", t, Operations.RW) for rid, t in _TYPES.items()}
    resources.update(
        {
            rid: ResourceDef(rid, f"m{rid}", t, Operations.RW, multiple=True)
            for rid, t in _MULTI.items()
        }
    )
    return Registry([ObjectDef(OID, "Scaling", resources)])


REG = registry()
TEXT_PATHS = {t.value: Path(OID, 0, rid) for rid, t in _TYPES.items() if t is not _T.OPAQUE}

# --- shapes ---------------------------------------------------------------------------

Make = Callable[[int, int], object]
Run = Callable[[object], object]


@dataclass(slots=True)
class Shape:
    """One adversarial input of a decoder: ``make(n, k)`` builds about ``n`` bytes of it.

    ``k`` numbers variants of the same shape and size (see :func:`iid`); shapes whose
    decoding no cache can help ignore it.
    """

    decoder: str
    name: str
    make: Make
    run: Run


SHAPES: list[Shape] = []


def shape(decoder: str, name: str, run: Run) -> Callable[[Make], Make]:
    def register(make: Make) -> Make:
        SHAPES.append(Shape(decoder, name, make, run))
        return make

    return register


def repeat(unit: bytes, n: int) -> bytes:
    return unit * max(1, n // len(unit))


def iid(i: int, k: int, count: int) -> int:
    """The instance id of entry ``i`` of variant ``k`` of a payload of ``count`` entries.

    Variants of one size use other ids, so that the decoders' bounded caches of names
    and paths (they keep the last few thousand) serve a small payload no better than
    a large one: every size is decoded as new data.
    """
    return (i + k * count) % 65_000


def node_decoder(module: object, path: Path) -> Run:
    decode = module.decode  # type: ignore[attr-defined]
    return lambda payload: decode(payload, path, REG)


# text/plain, one decoder per data type
for _type_name, _path in TEXT_PATHS.items():
    _run = node_decoder(text, _path)
    _decoder = f"text/plain {_type_name}"
    shape(_decoder, "digits then x", _run)(lambda n, k: repeat(b"9", n) + b"x")
    shape(_decoder, "UTF-8 then a bad byte", _run)(lambda n, k: repeat("é".encode(), n) + b"\xff")
_FLOAT = node_decoder(text, TEXT_PATHS["Float"])
shape("text/plain Float", "digits (overflows)", _FLOAT)(lambda n, k: repeat(b"9", n))
shape("text/plain Float", "dot, digits, e", _FLOAT)(lambda n, k: b"." + repeat(b"9", n) + b"e")
shape("text/plain Float", "long fraction", _FLOAT)(lambda n, k: b"0." + repeat(b"9", n))
shape("text/plain Float", "digits e digits x", _FLOAT)(
    lambda n, k: repeat(b"9", n // 2) + b"e+" + repeat(b"9", n // 2) + b"x"
)
shape("text/plain Objlnk", "digits:digits", node_decoder(text, TEXT_PATHS["Objlnk"]))(
    lambda n, k: repeat(b"1", n // 2) + b":" + repeat(b"1", n // 2)
)

# CBOR single value (60)
_CBOR_STRING = node_decoder(cbor, Path(OID, 0, 0))
_CBOR_OPAQUE = node_decoder(cbor, Path(OID, 0, 5))
shape("CBOR", "long text", _CBOR_STRING)(lambda n, k: cbor2.dumps("é" * (n // 2)))
shape("CBOR", "indefinite bytes of 1-byte chunks", _CBOR_OPAQUE)(
    lambda n, k: b"\x5f" + repeat(b"\x41a", n) + b"\xff"
)
shape("CBOR", "indefinite text of 1-byte chunks", _CBOR_STRING)(
    lambda n, k: b"\x7f" + repeat(b"\x61a", n) + b"\xff"
)
shape("CBOR", "nested arrays", _CBOR_STRING)(lambda n, k: repeat(b"\x81", n) + b"\x00")
shape("CBOR", "nested tags", _CBOR_STRING)(lambda n, k: repeat(b"\xc6", n) + b"\x00")
shape("CBOR", "long object link", node_decoder(cbor, Path(OID, 0, 7)))(
    lambda n, k: cbor2.dumps("1" * n + ":1")
)


# OMA TLV
def tlv_entry(kind: int, ident: int, value: bytes) -> bytes:
    """A TLV entry with a 16-bit identifier and a 24-bit length field."""
    n = len(value)
    return (
        bytes((kind | 0x38, ident >> 8, ident & 0xFF, n >> 16, (n >> 8) & 0xFF, n & 0xFF)) + value
    )


def tlv_resources(count: int, kind: int = 0xC0) -> bytes:
    """``count`` one-byte entries with 16-bit identifiers 0, 1, 2 ... (length in the type)."""
    return b"".join(bytes((kind | 0x21, i >> 8, i & 0xFF, 7)) for i in range(count))


def tlv_object(n: int, k: int = 0) -> bytes:
    """Object instances of up to 60,000 undefined resources each."""
    out = []
    size = 0
    iid = 0
    while size < n:
        body = tlv_resources(min(60_000, max(1, (n - size) // 4)))
        out.append(tlv_entry(0x00, iid, body))
        size += len(body)
        iid += 1
    return b"".join(out)


def tlv_multiple(n: int, k: int = 0) -> bytes:
    """Multiple resources of up to 60,000 resource instances each (defined and not)."""
    out = []
    size = 0
    rid = 9
    while size < n:
        body = tlv_resources(min(60_000, max(1, (n - size) // 4)), kind=0x40)
        out.append(tlv_entry(0x80, rid, body))
        size += len(body)
        rid += 1
    return b"".join(out)


_TLV_OBJECT = node_decoder(tlv, Path(OID))
_TLV_INSTANCE = node_decoder(tlv, Path(OID, 0))
shape("TLV", "object of many small resources", _TLV_OBJECT)(tlv_object)
shape("TLV", "many resource instances", _TLV_INSTANCE)(tlv_multiple)
shape("TLV", "one long string, a bad byte at the end", _TLV_INSTANCE)(
    lambda n, k: tlv_entry(0xC0, 0, repeat("é".encode(), n) + b"\xff")
)
shape("TLV", "many entries, truncated at the end", _TLV_INSTANCE)(
    lambda n, k: tlv_multiple(n) + b"\xe1\x00"
)
shape("TLV", "multiple resources sent as single values", _TLV_OBJECT)(
    lambda n, k: b"".join(
        tlv_entry(0x00, i, bytes((0xC1, 9, 7)) + bytes((0xC1, 10, 0x61)))
        for i in range(min(65_000, n // 12))
    )
)


# OMA JSON, SenML JSON
def json_entries(n: int, k: int, label: str) -> str:
    """Entries of one Integer resource in many instances: ``{"n":"i/1","v":i}``."""
    count = max(1, n // 24)
    return ",".join(f'{{"n":"{iid(i, k, count)}/1","{label}":{i}}}' for i in range(count))


_OMA_OBJECT = node_decoder(oma_json, Path(OID))
_OMA_INSTANCE = node_decoder(oma_json, Path(OID, 0))
shape("OMA JSON", "many entries", _OMA_OBJECT)(
    lambda n, k: f'{{"bn":"/{OID}/","e":[{json_entries(n, k, "v")}]}}'.encode()
)
shape("OMA JSON", "1e999 after many entries", _OMA_OBJECT)(
    lambda n, k: (
        f'{{"bn":"/{OID}/","e":[{json_entries(n, k, "v")},{{"n":"0/3","v":1e999}}]}}'.encode()
    )
)
shape("OMA JSON", "deep nesting", _OMA_INSTANCE)(
    lambda n, k: b'{"e":' + repeat(b"[", n // 2) + repeat(b"]", n // 2) + b"}"
)
shape("OMA JSON", "long string", _OMA_INSTANCE)(
    lambda n, k: f'{{"bn":"/{OID}/0/","e":[{{"n":"0","sv":"{"é" * (n // 2)}"}}]}}'.encode()
)
shape("OMA JSON", "white space", _OMA_INSTANCE)(
    lambda n, k: b" " * n + f'{{"bn":"/{OID}/0/","e":[{{"n":"1","v":1}}]}}'.encode()
)
shape("OMA JSON", "long number", _OMA_INSTANCE)(
    lambda n, k: f'{{"bn":"/{OID}/0/","e":[{{"n":"3","v":0.{"9" * n}}}]}}'.encode()
)
_UNKNOWN_FIELDS = ",".join(f'"x{i}":0' for i in range(50))
shape("OMA JSON", "entries of 50 unknown fields", _OMA_OBJECT)(
    lambda n, k: (
        f'{{"bn":"/{OID}/","e":['
        + ",".join(
            f'{{"n":"{iid(i, k, n // 400)}/1","v":1,{_UNKNOWN_FIELDS}}}' for i in range(n // 400)
        )
        + "]}"
    ).encode()
)

_SENML_JSON_OBJECT = node_decoder(senml_json, Path(OID))
_SENML_JSON_ROOT = node_decoder(senml_json, Path())
shape("SenML JSON", "many records", _SENML_JSON_OBJECT)(
    lambda n, k: f'[{{"bn":"/{OID}/"}},{json_entries(n, k, "v")}]'.encode()
)
shape("SenML JSON", "a new base name in every record", _SENML_JSON_ROOT)(
    lambda n, k: (
        "["
        + ",".join(
            f'{{"bn":"/{OID}/{iid(i, k, n // 40)}/","n":"1","v":{i},"t":{i}}}'
            for i in range(n // 40)
        )
        + "]"
    ).encode()
)
shape("SenML JSON", "deep nesting", _SENML_JSON_ROOT)(
    lambda n, k: repeat(b"[", n // 2) + repeat(b"]", n // 2)
)
shape("SenML JSON", "long string", _SENML_JSON_ROOT)(
    lambda n, k: f'[{{"n":"/{OID}/0/0","vs":"{"é" * (n // 2)}"}}]'.encode()
)
shape("SenML JSON", "a bad name after many records", _SENML_JSON_OBJECT)(
    lambda n, k: (
        f'[{{"bn":"/{OID}/"}},{json_entries(n, k, "v")},{{"n":"0/1/2/3/4","v":1}}]'.encode()
    )
)
shape("SenML JSON", "long base name", _SENML_JSON_ROOT)(
    lambda n, k: f'[{{"bn":"/{"1/" * (n // 2)}","n":"1","v":1}}]'.encode()
)


# SenML CBOR, LwM2M CBOR
def cbor_records(n: int, k: int) -> list[dict[object, object]]:
    count = n // 16
    return [
        {senml_cbor.NAME: f"/{OID}/{iid(i, k, count)}/1", senml_cbor.V: i} for i in range(count)
    ]


_SENML_CBOR_ROOT = node_decoder(senml_cbor, Path())
shape("SenML CBOR", "many records", _SENML_CBOR_ROOT)(lambda n, k: cbor2.dumps(cbor_records(n, k)))
shape("SenML CBOR", "nested arrays", _SENML_CBOR_ROOT)(lambda n, k: repeat(b"\x81", n) + b"\x00")
shape("SenML CBOR", "opaque of 1-byte chunks", _SENML_CBOR_ROOT)(
    lambda n, k: (
        b"\x81\xa2\x00" + cbor2.dumps(f"/{OID}/0/5") + b"\x08\x5f" + repeat(b"\x41a", n) + b"\xff"
    )
)
shape("SenML CBOR", "infinite time after many records", _SENML_CBOR_ROOT)(
    lambda n, k: cbor2.dumps(
        [*cbor_records(n, k), {senml_cbor.NAME: f"/{OID}/0/1", 2: 1, 6: math.inf}]
    )
)
shape("SenML CBOR", "indefinite array of records", _SENML_CBOR_ROOT)(
    lambda n, k: b"\x9f" + cbor2.dumps(cbor_records(n, k))[3:] + b"\xff"
)


def lwm2m_cbor_tree(n: int, k: int = 0) -> bytes:
    """{oid: {i: {9: {ri: v, ...}}}}: resource instances of many instances."""
    per = 100
    count = max(1, n // 6)
    instances = max(1, count // per)
    tree = {
        OID: {iid(i, k, instances): {9: {ri: ri for ri in range(per)}} for i in range(instances)}
    }
    return cbor2.dumps(tree)


_LWM2M_CBOR_OBJECT = node_decoder(lwm2m_cbor, Path(OID))
shape("LwM2M CBOR", "many resource instances", _LWM2M_CBOR_OBJECT)(lwm2m_cbor_tree)
shape("LwM2M CBOR", "long array key", _LWM2M_CBOR_OBJECT)(
    lambda n, k: b"\xa1" + cbor2.dumps([1] * n) + b"\x00"
)
shape("LwM2M CBOR", "nested maps", _LWM2M_CBOR_OBJECT)(
    lambda n, k: repeat(b"\xa1\x00", n) + b"\x00"
)
shape("LwM2M CBOR", "many array keys", _LWM2M_CBOR_OBJECT)(
    lambda n, k: cbor2.dumps({(OID, iid(i, k, n // 12), 1): i for i in range(n // 12)})
)

# CoRE link format: the generic parser, Discover and the Register object list
shape("link format", "many links", link.parse_links)(lambda n, k: repeat(b"</1/0>,", n) + b"</1>")
shape("link format", "many parameters", link.parse_links)(lambda n, k: b"</1>" + repeat(b";a=1", n))
shape("link format", "quoted escapes", link.parse_links)(
    lambda n, k: b'</1>;title="' + repeat(b'\\"', n) + b'"'
)
shape("link format", "unterminated quoted string", link.parse_links)(
    lambda n, k: b'</1>;title="' + repeat(b"a", n)
)
shape("link format", "long target", link.parse_links)(lambda n, k: b"<" + repeat(b"a", n) + b">")
shape("link format", "white space", link.parse_links)(
    lambda n, k: b"</1>" + repeat(b" ", n) + b";" + repeat(b" ", n) + b"a"
)
shape("link format", "opening brackets", link.parse_links)(lambda n, k: repeat(b"<", n))
shape("link format Discover", "attributes", link.parse_discover)(
    lambda n, k: repeat(b"</3/0/7>;pmin=10;pmax=60;gt=50.5;st=0.5,", n) + b"</3/0>"
)
shape("link format Discover", "long number", link.parse_discover)(
    lambda n, k: b"</3/0>;gt=" + repeat(b"9", n) + b"x"
)
shape("link format Discover", "long id", link.parse_discover)(
    lambda n, k: b"</3/0/" + repeat(b"9", n) + b">"
)
shape("link format Register", "many instances", link.parse_object_list)(
    lambda n, k: (
        b"".join(b"</%d/%d>," % (i // 60_000, i % 60_000) for i in range(n // 12)) + b"</1>"
    )
)
shape("link format Register", "long content format", link.parse_object_list)(
    lambda n, k: b'</>;rt="oma.lwm2m";ct=' + repeat(b"9", n) + b",</1/0>"
)


# OMA DDF XML
def ddf(items: str, object_extra: str = "") -> bytes:
    return (
        "<LWM2M><Object ObjectType='MODefinition'><Name>S</Name><ObjectID>10242</ObjectID>"
        "<MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory>"
        f"{object_extra}<Resources>{items}</Resources></Object></LWM2M>"
    ).encode()


def ddf_item(rid: int, range_text: str = "0..100", description: str = "") -> str:
    return (
        f"<Item ID='{rid}'><Name>r{rid}</Name><Operations>RW</Operations>"
        "<MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>"
        f"<Type>Integer</Type><RangeEnumeration>{range_text}</RangeEnumeration>"
        f"<Description>{description}</Description></Item>"
    )


shape("DDF XML", "many items", load_ddf_bytes)(
    lambda n, k: ddf("".join(ddf_item(i) for i in range(min(65_000, n // 260))))
)
shape("DDF XML", "range with trailing spaces", load_ddf_bytes)(
    lambda n, k: ddf(ddf_item(0, "1..1" + " " * n + "x"))
)
shape("DDF XML", "range of many numbers", load_ddf_bytes)(
    lambda n, k: ddf(ddf_item(0, "1," * (n // 2) + "x"))
)
shape("DDF XML", "long description of entities", load_ddf_bytes)(
    lambda n, k: ddf(ddf_item(0, description="&amp;&#233;" * (n // 11)))
)
shape("DDF XML", "deep unknown elements", load_ddf_bytes)(
    lambda n, k: ddf(ddf_item(0), "<x>" * (n // 7) + "</x>" * (n // 7))
)
shape("DDF XML", "many unknown elements", load_ddf_bytes)(
    lambda n, k: ddf(ddf_item(0), "<x/>" * (n // 4))
)
_ATTRIBUTES = " ".join(f"a{i}=''" for i in range(100))
shape("DDF XML", "items of 100 attributes", load_ddf_bytes)(
    lambda n, k: ddf(
        "".join(ddf_item(i).replace("<Item ", f"<Item {_ATTRIBUTES} ") for i in range(n // 960))
    )
)
shape("DDF XML", "DOCTYPE after a long comment, UTF-32", load_ddf_bytes)(
    lambda n, k: ("<!--" + "c" * n + "-->\n<!DOCTYPE LWM2M []><LWM2M/>").encode("utf-32")
)
shape("DDF XML", "long version", load_ddf_bytes)(
    lambda n, k: ddf(ddf_item(0), "<ObjectVersion>1." + "1" * n + "x</ObjectVersion>")
)

# Path.parse
shape("Path.parse", "digits", Path.parse)(lambda n, k: "9" * n)
shape("Path.parse", "many levels", Path.parse)(lambda n, k: "/1" * (n // 2))
shape("Path.parse", "white space", Path.parse)(lambda n, k: " " * n + "/3/0" + " " * n)
shape("Path.parse", "leading zeros", Path.parse)(lambda n, k: "/3/" + "0" * n)


# --- measuring ------------------------------------------------------------------------------


def _call(run: Run, value: object) -> None:
    with contextlib.suppress(DecodeError, ModelError):  # the refusal such input is owed
        run(value)


@dataclass(slots=True)
class Figure:
    """Best seconds per decode of one shape at the small and the large size.

    ``small_bytes`` and ``large_bytes`` are the input sizes the builders made (they come
    close to the sizes asked for, not to the byte), ``scale`` the ratio of the sizes
    asked for (100).
    """

    decoder: str
    name: str
    small_bytes: float
    large_bytes: float
    scale: float
    small: float = math.inf
    large: float = math.inf

    @property
    def ratio(self) -> float:
        """The time ratio for exactly ``scale`` times the bytes: per-byte time ratio x scale."""
        if self.small <= 0 or self.small_bytes <= 0:
            return math.inf
        return self.large / self.small * self.scale * self.small_bytes / self.large_bytes


@dataclass(slots=True)
class Figures:
    shapes: list[Figure]
    baseline: Figure
    small: int
    large: int
    worst: dict[str, Figure] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for f in self.shapes:
            if f.decoder not in self.worst or f.ratio > self.worst[f.decoder].ratio:
                self.worst[f.decoder] = f

    @property
    def worst_overall(self) -> Figure:
        return max(self.worst.values(), key=lambda f: f.ratio)

    @property
    def all_under(self) -> bool:
        return all(f.ratio <= TARGET for f in self.worst.values())


def _time(fn: Callable[[], object], number: int) -> float:
    return timeit.Timer(fn).timeit(number) / number


def measure(
    run: Run,
    small_inputs: list[object],
    large_input: object,
    repeats: int,
    round_seconds: float = ROUND,
) -> tuple[float, float]:
    """Best seconds per call at each size; the rounds alternate the sizes.

    The small size decodes its variants in turn, the large size its one input once per
    round (a variant of 1 MB is already far more data than any decoder cache holds).
    A large decode quicker than 0.1 s gets twice the rounds (the best of a few short runs
    is what a burst of load on the machine spoils most), one slower than 0.3 s a round
    less (at least two).
    """
    variants = itertools.cycle(small_inputs)
    small_call = lambda: _call(run, next(variants))  # noqa: E731
    large_call = lambda: _call(run, large_input)  # noqa: E731
    once = _time(small_call, len(small_inputs))  # warm-up, and the size of a round
    number = max(1, min(100_000, math.ceil(round_seconds / max(once, 1e-7))))
    best_small = best_large = math.inf
    rounds = max(1, repeats)
    done = 0
    while done < rounds:
        best_small = min(best_small, _time(small_call, number))
        best_large = min(best_large, _time(large_call, 1))
        if done == 0 and best_large < QUICK:
            rounds = 2 * rounds
        elif done == 0 and best_large > SLOW:
            rounds = max(2, rounds - 1)
        done += 1
    return best_small, best_large


def warm_heap(megabytes: int) -> list[object]:
    """Touch ``megabytes`` of heap twice over and free nearly all of it, keeping it mapped.

    CPython's small-object allocator hands an arena back to the system as soon as it is
    empty, and the C allocator trims the top of its heap, so a 1 MB decode would take
    fresh pages from the kernel (a page fault each) where a 10 kB decode reuses memory.
    That cost is linear but large on virtual machines (it doubles ``json.loads`` of 1 MB
    of strings here). So both sizes decode into memory the process holds already: one
    small object is kept per arena, and the last of many medium blocks, below which the
    C heap cannot be trimmed. The returned list keeps them.
    """
    count = megabytes * 1024 * 1024
    objects = [bytes(40) for _ in range(count // 80)]  # 80 bytes each with the header
    blocks = [bytearray(60_000) for _ in range(count // 60_000)]  # under mmap's threshold
    kept: list[object] = [objects[::512], blocks[-1]]
    del objects, blocks
    return kept


def _size(value: object) -> int:
    return len(value) if isinstance(value, bytes | str) else 1


def run(small: int, large: int, repeats: int, round_seconds: float = ROUND) -> Figures:
    # The decoders log (a lenient TLV read warns once per payload): count its cost, print
    # nothing.
    logging.getLogger("lwm2m").addHandler(logging.NullHandler())
    ballast = warm_heap(max(16, 64 * large // 1_000_000))
    scale = large / small
    docs = [("[" + ",".join(["1234567"] * (n // 8)) + "]").encode() for n in (small, large)]
    baseline = Figure(
        "json.loads (baseline)", "flat array of numbers", len(docs[0]), len(docs[1]), scale
    )
    baseline.small, baseline.large = measure(json.loads, docs[:1], docs[1], repeats, round_seconds)
    figures: list[Figure] = []
    for s in SHAPES:
        small_inputs = [s.make(small, k) for k in range(VARIANTS)]
        large_input = s.make(large, 0)
        small_bytes = sum(map(_size, small_inputs)) / len(small_inputs)
        figure = Figure(s.decoder, s.name, small_bytes, _size(large_input), scale)
        figure.small, figure.large = measure(
            s.run, small_inputs, large_input, repeats, round_seconds
        )
        figures.append(figure)
    del ballast
    return Figures(figures, baseline, small, large)


def report(figures: Figures) -> list[str]:
    scale = figures.large / figures.small
    lines = [
        f"decode time of about {figures.small} and {figures.large} bytes; ratio: large/small "
        f"time for {scale:.0f} times the bytes (target <= {TARGET:.0f})",
        f"{'decoder':28} {'shape':42} {'bytes':>9} {'x bytes':>7} {'small us':>10} "
        f"{'large ms':>9} {'ratio':>7}",
    ]

    def row(f: Figure) -> str:
        return (
            f"{f.decoder:28} {f.name[:42]:42} {f.small_bytes:9.0f} "
            f"{f.large_bytes / f.small_bytes:7.1f} {f.small * 1e6:10.1f} "
            f"{f.large * 1e3:9.2f} {f.ratio:7.1f}"
        )

    lines.append(row(figures.baseline))
    lines.extend(row(f) for f in figures.shapes)
    lines.append("")
    lines.append("worst shape per decoder:")
    for decoder, f in figures.worst.items():
        mark = "ok" if f.ratio <= TARGET else "OVER"
        lines.append(f"  {decoder:28} {f.ratio:8.1f}  {mark}  ({f.name})")
    worst = figures.worst_overall
    lines.append(
        result_line(
            worst_ratio=f"{worst.ratio:.1f}",
            decoder=worst.decoder.replace(" ", "_"),
            all_under_150="yes" if figures.all_under else "no",
        )
    )
    return lines


def main(argv: list[str] | None = None) -> Figures:
    """Parse ``argv``, run, print the figures and the RESULT line; returns the figures."""
    parser = argparse.ArgumentParser(description="decoder time at 10 kB and 1 MB of bad input")
    parser.add_argument("--small", type=int, default=10_000, help="small input size, bytes")
    parser.add_argument("--large", type=int, default=1_000_000, help="large input size, bytes")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per figure (best kept)")
    parser.add_argument(
        "--round", type=float, default=ROUND, help="seconds of small decodes per round"
    )
    args = parser.parse_args(argv)
    figures = run(args.small, args.large, args.repeats, args.round)
    for line in report(figures):
        print(line)
    return figures


if __name__ == "__main__":
    main()
