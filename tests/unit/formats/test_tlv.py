"""OMA TLV (11542): spec examples byte for byte, every header form, every type, round trips."""

from __future__ import annotations

import logging
import math
import struct
import sys
from pathlib import Path as FsPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(FsPath(__file__).parent))  # the shared senml_testutil module
from senml_testutil import device_instance

from lwm2m.errors import DecodeError, EncodeError, UnsupportedFormat
from lwm2m.formats import tlv
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    ObjectDef,
    ObjectNode,
    ObjLink,
    Operations,
    Path,
    Registry,
    ResourceDef,
    ResourceNode,
    ResourceType,
    default_registry,
)

T = ResourceType
RW = Operations.RW

# A test object with one single and one multiple resource of every type, plus ids that
# need a 16-bit TLV identifier.
ALL_TYPES_ID = 32769
SINGLE = {
    0: T.STRING,
    1: T.INTEGER,
    2: T.UNSIGNED_INTEGER,
    3: T.FLOAT,
    4: T.BOOLEAN,
    5: T.OPAQUE,
    6: T.TIME,
    7: T.OBJLNK,
    8: T.CORELNK,
}
MULTI = {rid + 10: rtype for rid, rtype in SINGLE.items()}
WIDE_ID = 300
MAX_RID = 65534


def _all_types_def() -> ObjectDef:
    res = {rid: ResourceDef(rid, f"s{rid}", t, RW) for rid, t in SINGLE.items()}
    res.update({rid: ResourceDef(rid, f"m{rid}", t, RW, multiple=True) for rid, t in MULTI.items()})
    res[9] = ResourceDef(9, "exec", T.NONE, Operations.E)
    res[WIDE_ID] = ResourceDef(WIDE_ID, "wide", T.INTEGER, RW)
    res[MAX_RID] = ResourceDef(MAX_RID, "last", T.STRING, RW, multiple=True)
    return ObjectDef(ALL_TYPES_ID, "All types", res)


def _registry() -> Registry:
    reg = default_registry().copy()
    reg.add(_all_types_def())
    # Objects 65 and 66 of the Object Link examples (Core TS 1.0.2 6.4.3.3, Figure 19).
    reg.add(
        ObjectDef(
            65,
            "Example 65",
            {
                0: ResourceDef(0, "lnk", T.OBJLNK, RW, multiple=True),
                1: ResourceDef(1, "number", T.STRING, RW),
                2: ResourceDef(2, "value", T.INTEGER, RW),
            },
        )
    )
    reg.add(
        ObjectDef(
            66,
            "Example 66",
            {
                0: ResourceDef(0, "name", T.STRING, RW),
                1: ResourceDef(1, "apn", T.STRING, RW),
                2: ResourceDef(2, "lnk", T.OBJLNK, RW),
            },
        )
    )
    return reg


REG = _registry()


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", "").replace("\n", ""))


def roundtrip(payload: bytes, path: str) -> object:
    p = Path.parse(path)
    node = tlv.decode(payload, p, REG)
    assert tlv.encode(node, p, REG) == payload
    return node


# --- Core TS 1.0.2 section 6.4.3 examples (1.1: section 7.4.3) -------------------------

DEVICE_BODY = h(
    """
    C8 00 14 4F 70 65 6E 20 4D 6F 62 69 6C 65 20 41 6C 6C 69 61 6E 63 65
    C8 01 16 4C 69 67 68 74 77 65 69 67 68 74 20 4D 32 4D 20 43 6C 69 65 6E 74
    C8 02 09 33 34 35 30 30 30 31 32 33
    C3 03 31 2E 30
    86 06 41 00 01 41 01 05
    88 07 08 42 00 0E D8 42 01 13 88
    87 08 41 00 7D 42 01 03 84
    C1 09 64
    C1 0A 0F
    83 0B 41 00 00
    C4 0D 51 82 42 8F
    C6 0E 2B 30 32 3A 30 30
    C1 10 55
    """
)

DEVICE_NODE = device_instance()


def test_core_6_4_3_1_single_object_instance_read_device_3_0() -> None:
    assert len(DEVICE_BODY) == 121
    assert tlv.decode(DEVICE_BODY, Path(3, 0), REG) == DEVICE_NODE
    assert tlv.encode(DEVICE_NODE, Path(3, 0), REG) == DEVICE_BODY


def test_core_6_4_3_2_a_single_instance_object_read_device_3() -> None:
    payload = h("08 00 79") + DEVICE_BODY
    assert len(payload) == 124
    assert tlv.decode(payload, Path(3), REG) == ObjectNode(3, {0: DEVICE_NODE})
    assert tlv.encode(ObjectNode(3, {0: DEVICE_NODE}), Path(3), REG) == payload


# The printed table of 6.4.3.2 B) gives "86 02" for the second ACL in the byte listing;
# its own table row says 0b10 0 00 110 for six bytes while the two entries take seven
# (41 7F 07 = 3, 61 01 36 01 = 4) and the instance length 0x12 only adds up with 0x87.
ACCESS_CONTROL = h(
    """
    08 00 0E  C1 00 01  C1 01 00  83 02 41 7F 07  C1 03 7F
    08 02 12  C1 00 03  C1 01 00  87 02 41 7F 07 61 01 36 01  C1 03 7F
    """
)


def test_core_6_4_3_2_b_access_control_two_instances_read_2() -> None:
    assert len(ACCESS_CONTROL) == 38
    node = roundtrip(ACCESS_CONTROL, "/2")
    assert node == ObjectNode(
        2,
        {
            0: InstanceNode(
                0,
                {
                    0: ResourceNode(0, 1),
                    1: ResourceNode(1, 0),
                    2: MultiResourceNode(2, {127: 7}),
                    3: ResourceNode(3, 127),
                },
            ),
            2: InstanceNode(
                2,
                {
                    0: ResourceNode(0, 3),
                    1: ResourceNode(1, 0),
                    2: MultiResourceNode(2, {127: 7, 310: 1}),
                    3: ResourceNode(3, 127),
                },
            ),
        },
    )


def test_core_6_4_3_2_c_server_single_instance_read_1() -> None:
    # The listing prints the instance length as 0x0D; its four resources take
    # 3 + 6 + 3 + 3 = 15 bytes (0x0F) for the 18-byte total the text states.
    payload = h("08 00 0F  C1 00 01  C4 01 00 01 51 80  C1 06 01  C1 07 55")
    assert len(payload) == 18
    node = roundtrip(payload, "/1")
    assert node == ObjectNode(
        1,
        {
            0: InstanceNode(
                0,
                {
                    0: ResourceNode(0, 1),
                    1: ResourceNode(1, 86400),
                    6: ResourceNode(6, True),
                    7: ResourceNode(7, "U"),
                },
            )
        },
    )


def test_core_6_4_3_3_object_link_example_1_read_65_0() -> None:
    payload = h(
        """
        88 00 0C  44 00 00 42 00 00  44 01 00 42 00 01
        C8 01 0D 38 36 31 33 38 30 30 37 35 35 35 30 30
        C4 02 12 34 56 78
        """
    )
    assert len(payload) == 37
    node = roundtrip(payload, "/65/0")
    assert node == InstanceNode(
        0,
        {
            0: MultiResourceNode(0, {0: ObjLink(66, 0), 1: ObjLink(66, 1)}),
            1: ResourceNode(1, "8613800755500"),
            2: ResourceNode(2, 0x12345678),
        },
    )


def test_core_6_4_3_3_object_link_example_2_read_66() -> None:
    # The listing prints 0x23 as both instance lengths; the entries take 14 + 18 + 6 = 38.
    payload = h(
        """
        08 00 26
        C8 00 0B 6D 79 53 65 72 76 69 63 65 20 31
        C8 01 0F 49 6E 74 65 72 6E 65 74 2E 31 35 2E 32 33 34
        C4 02 00 43 00 00
        08 01 26
        C8 00 0B 6D 79 53 65 72 76 69 63 65 20 32
        C8 01 0F 49 6E 74 65 72 6E 65 74 2E 31 35 2E 32 33 35
        C4 02 FF FF FF FF
        """
    )
    node = roundtrip(payload, "/66")
    assert isinstance(node, ObjectNode)
    assert node.instances[0].resources[2] == ResourceNode(2, ObjLink(67, 0))
    lnk = node.instances[1].resources[2]
    assert isinstance(lnk, ResourceNode) and isinstance(lnk.value, ObjLink)
    assert lnk.value.is_null
    assert node.instances[1].resources[0] == ResourceNode(0, "myService 2")


def test_core_6_4_3_read_single_resource_and_resource_instance() -> None:
    assert roundtrip(h("C8 00 14") + b"Open Mobile Alliance", "/3/0/0") == ResourceNode(
        0, "Open Mobile Alliance"
    )
    assert roundtrip(h("88 07 08 42 00 0E D8 42 01 13 88"), "/3/0/7") == MultiResourceNode(
        7, {0: 3800, 1: 5000}
    )
    assert roundtrip(h("42 01 13 88"), "/3/0/7/1") == ResourceNode(1, 5000)


def test_instance_payload_wrapped_in_object_instance_tlv_is_accepted() -> None:
    wrapped = h("08 00 79") + DEVICE_BODY
    assert tlv.decode(wrapped, Path(3, 0), REG) == DEVICE_NODE
    # ... but the encoder writes the canonical, unwrapped form.
    assert tlv.encode(DEVICE_NODE, Path(3, 0), REG) == DEVICE_BODY


# --- header forms -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "header"),
    [
        (0, "C0 00"),
        (7, "C7 00"),
        (8, "C8 00 08"),
        (255, "C8 00 FF"),
        (256, "D0 00 01 00"),
        (65535, "D0 00 FF FF"),
        (65536, "D8 00 01 00 00"),
        (70000, "D8 00 01 11 70"),
    ],
)
def test_length_forms(length: int, header: str) -> None:
    node = ResourceNode(0, "x" * length)
    payload = tlv.encode(node, Path(ALL_TYPES_ID, 0, 0), REG)
    assert payload[: len(h(header))] == h(header)
    assert len(payload) == len(h(header)) + length
    assert tlv.decode(payload, Path(ALL_TYPES_ID, 0, 0), REG) == node


def test_length_above_24_bits_is_an_encode_error() -> None:
    with pytest.raises(EncodeError, match="24-bit"):
        tlv.encode(ResourceNode(5, bytes(1 << 24)), Path(ALL_TYPES_ID, 0, 5), REG)


def test_sixteen_bit_identifiers() -> None:
    assert tlv.encode(ResourceNode(WIDE_ID, 1), Path(ALL_TYPES_ID, 0, WIDE_ID), REG) == h(
        "E1 01 2C 01"
    )
    node = MultiResourceNode(MAX_RID, {65534: "a", 0: "b"})
    payload = tlv.encode(node, Path(ALL_TYPES_ID, 0, MAX_RID), REG)
    assert payload == h("A7 FF FE  61 FF FE 61  41 00 62")
    assert tlv.decode(payload, Path(ALL_TYPES_ID, 0, MAX_RID), REG) == node
    obj = ObjectNode(ALL_TYPES_ID, {65534: InstanceNode(65534, {1: ResourceNode(1, 0)})})
    payload = tlv.encode(obj, Path(ALL_TYPES_ID), REG)
    assert payload == h("23 FF FE C1 01 00")
    assert tlv.decode(payload, Path(ALL_TYPES_ID), REG) == obj


def test_non_canonical_headers_decode() -> None:
    # 8-bit length field for a short value, 16-bit identifier for a small id.
    assert tlv.decode(h("C8 09 01 64"), Path(3, 0, 9), REG) == ResourceNode(9, 100)
    assert tlv.decode(h("E1 00 09 64"), Path(3, 0, 9), REG) == ResourceNode(9, 100)
    assert tlv.decode(h("D0 09 00 01 64"), Path(3, 0, 9), REG) == ResourceNode(9, 100)
    assert tlv.decode(h("D8 09 00 00 01 64"), Path(3, 0, 9), REG) == ResourceNode(9, 100)


# --- values -------------------------------------------------------------------------------


def enc_value(rid: int, value: object) -> bytes:
    """The value bytes of a single resource of the all-types object."""
    payload = tlv.encode(ResourceNode(rid, value), Path(ALL_TYPES_ID, 0, rid), REG)  # type: ignore[arg-type]
    [(_, ident, start, end)] = tlv._split(payload, 0, len(payload))
    assert ident == rid and end == len(payload)
    return payload[start:end]


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (127, "7F"),
        (-128, "80"),
        (128, "00 80"),
        (-129, "FF 7F"),
        (32767, "7F FF"),
        (32768, "00 00 80 00"),
        (-32769, "FF FF 7F FF"),
        (2**31 - 1, "7F FF FF FF"),
        (2**31, "00 00 00 00 80 00 00 00"),
        (2**63 - 1, "7F FF FF FF FF FF FF FF"),
        (-(2**63), "80 00 00 00 00 00 00 00"),
    ],
)
def test_integer_sizes_are_canonical(value: int, encoded: str) -> None:
    assert enc_value(1, value) == h(encoded)
    assert enc_value(6, value) == h(encoded)  # Time: same representation


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        (0, "00"),
        (255, "FF"),
        (256, "01 00"),
        (65535, "FF FF"),
        (65536, "00 01 00 00"),
        (2**32 - 1, "FF FF FF FF"),
        (2**32, "00 00 00 01 00 00 00 00"),
        (2**63, "80 00 00 00 00 00 00 00"),
        (2**64 - 1, "FF FF FF FF FF FF FF FF"),
    ],
)
def test_unsigned_integer_is_unsigned_in_1_2_4_8_bytes(value: int, encoded: str) -> None:
    assert enc_value(2, value) == h(encoded)
    payload = tlv.encode(ResourceNode(2, value), Path(ALL_TYPES_ID, 0, 2), REG)
    assert tlv.decode(payload, Path(ALL_TYPES_ID, 0, 2), REG) == ResourceNode(2, value)


@pytest.mark.parametrize(
    ("rid", "value"), [(1, 2**63), (1, -(2**63) - 1), (2, -1), (2, 2**64), (6, 2**64)]
)
def test_integers_out_of_range_are_encode_errors(rid: int, value: int) -> None:
    with pytest.raises(EncodeError):
        tlv.encode(ResourceNode(rid, value), Path(ALL_TYPES_ID, 0, rid), REG)


@pytest.mark.parametrize(
    ("value", "size"),
    [
        (1.5, 4),
        (-0.0, 4),
        (3.4028234663852886e38, 4),
        (float("inf"), 4),
        (float("-inf"), 4),
        (0.1, 8),
        (1e300, 8),
        (5e-324, 8),
    ],
)
def test_float_is_4_bytes_when_exact_else_8(value: float, size: int) -> None:
    raw = enc_value(3, value)
    assert len(raw) == size
    back = struct.unpack(">f" if size == 4 else ">d", raw)[0]
    assert back == value and math.copysign(1, back) == math.copysign(1, value)


def test_float_nan_and_int_values() -> None:
    raw = enc_value(3, float("nan"))
    assert len(raw) == 4
    node = tlv.decode(h("C4 03") + raw, Path(ALL_TYPES_ID, 0, 3), REG)
    assert isinstance(node, ResourceNode) and isinstance(node.value, float)
    assert math.isnan(node.value)
    assert enc_value(3, 2) == h("40 00 00 00")  # an int for a Float is accepted


def test_other_types() -> None:
    assert enc_value(4, True) == h("01")
    assert enc_value(4, False) == h("00")
    assert enc_value(7, ObjLink(66, 1)) == h("00 42 00 01")
    assert enc_value(7, ObjLink(65535, 65535)) == h("FF FF FF FF")
    assert enc_value(5, b"") == b""
    assert enc_value(5, b"\x00\xff") == h("00 FF")
    assert enc_value(0, "") == b""
    assert enc_value(0, "é") == "é".encode()
    assert enc_value(8, "</3/0>") == b"</3/0>"
    assert tlv.encode(ResourceNode(9, None), Path(ALL_TYPES_ID, 0, 9), REG) == h("C0 09")
    assert tlv.decode(h("C0 09"), Path(ALL_TYPES_ID, 0, 9), REG) == ResourceNode(9, None)


@pytest.mark.parametrize(
    ("rid", "value"),
    [
        (0, 1),
        (1, "1"),
        (1, True),
        (1, 1.0),
        (3, "1.0"),
        (4, 1),
        (5, "ab"),
        (7, "66:0"),
        (9, 1),
        (0, None),
    ],
)
def test_wrong_value_types_are_encode_errors(rid: int, value: object) -> None:
    with pytest.raises(EncodeError, match=f"resource {rid}"):
        tlv.encode(
            InstanceNode(0, {rid: ResourceNode(rid, value)}),  # type: ignore[arg-type]
            Path(ALL_TYPES_ID, 0),
            REG,
        )


@pytest.mark.parametrize(
    ("rid", "value_hex"),
    [
        (1, "00 00 01"),  # 3-byte integer
        (1, ""),
        (2, "00 00 00 00 00 00 00 00 00"),
        (3, "00 00"),  # 2-byte float
        (4, "02"),  # boolean other than 0/1
        (4, "00 00"),
        (7, "00 42 00"),  # short object link
        (0, "C3 28"),  # invalid UTF-8
        (6, "01 02 03"),
        (9, "01"),  # executable with a value
    ],
)
def test_values_that_break_the_type_are_decode_errors(rid: int, value_hex: str) -> None:
    value = h(value_hex)
    payload = bytes((0xC0 | len(value), rid)) if len(value) < 8 else bytes((0xC8, rid, len(value)))
    with pytest.raises(DecodeError, match=f"/{rid}"):
        tlv.decode(payload + value, Path(ALL_TYPES_ID, 0), REG)


# --- unknown resources and structure -------------------------------------------------------


def test_unknown_resources_decode_as_opaque_bytes() -> None:
    payload = h("C2 63 01 02  83 64 41 00 07")
    node = roundtrip(payload, f"/{ALL_TYPES_ID}/0")
    assert node == InstanceNode(
        0, {99: ResourceNode(99, b"\x01\x02"), 100: MultiResourceNode(100, {0: b"\x07"})}
    )
    unknown_object = tlv.decode(h("08 00 03 C1 00 05"), Path(4242), REG)
    assert unknown_object == ObjectNode(4242, {0: InstanceNode(0, {0: ResourceNode(0, b"\x05")})})


def test_unknown_resources_encode_by_python_type() -> None:
    node = InstanceNode(
        0,
        {
            0: ResourceNode(0, 5),
            1: ResourceNode(1, "a"),
            2: ResourceNode(2, True),
            3: ResourceNode(3, 1.5),
            4: ResourceNode(4, ObjLink(1, 2)),
            5: ResourceNode(5, b"\x09"),
        },
    )
    assert tlv.encode(node, Path(4242, 0), REG) == h(
        "C1 00 05  C1 01 61  C1 02 01  C4 03 3F C0 00 00  C4 04 00 01 00 02  C1 05 09"
    )


def test_empty_containers() -> None:
    assert roundtrip(b"", "/3/0") == InstanceNode(0, {})
    assert roundtrip(b"", "/2") == ObjectNode(2, {})
    assert roundtrip(h("80 0B"), "/3/0/11") == MultiResourceNode(11, {})
    assert roundtrip(h("00 05"), "/2") == ObjectNode(2, {5: InstanceNode(5, {})})


@pytest.mark.parametrize(
    ("payload", "path", "message"),
    [
        ("C1", "/3/0", "truncated identifier"),
        ("E1 00", "/3/0", "truncated 16-bit identifier"),
        ("C8 00", "/3/0", "truncated length"),
        ("D0 00 01", "/3/0", "truncated length"),
        ("D8 00 00 01", "/3/0", "truncated length"),
        ("C8 00 05 41", "/3/0", "runs past"),
        ("86 06 41 00 01 41 01", "/3/0", "runs past"),
        ("C1 09 64", "/3", "expected object instances"),
        ("08 00 03 C1 09 64 08 00 00", "/3", "duplicate object instance"),
        ("C1 09 64 C1 09 65", "/3/0", "duplicate resource 9"),
        ("86 06 41 00 01 41 00 05", "/3/0", "duplicate resource instance"),
        ("86 06 C1 00 01 C1 01 05", "/3/0", "in a multiple resource"),
        ("83 09 41 00 64", "/3/0", "sent as multiple"),
        ("C1 06 05 C1 06 06", "/3/0", "duplicate resource 6"),
        ("C3 06 00 00 01", "/3/0", r"/3/0/6 \(Integer\): an integer takes 1, 2, 4 or 8 bytes"),
        ("41 00 01", "/3/0", "expected a resource"),
        ("08 01 03 C1 09 64", "/3/0", "does not match"),
        ("08 00 03 C1 09 64 08 00 00", "/3/0", "exactly one"),
        ("C1 0A 64", "/3/0/9", "does not match"),
        ("C1 09 64 C1 09 64", "/3/0/9", "exactly one"),
        ("41 00 01", "/3/0/9", "expected a resource"),
        ("41 01 05", "/3/0/6/0", "does not match"),
        ("C1 06 05", "/3/0/6/0", "expected a resource instance"),
        ("", "/3/0/9", "exactly one"),
    ],
)
def test_malformed_payloads_are_decode_errors(payload: str, path: str, message: str) -> None:
    with pytest.raises(DecodeError, match=message):
        tlv.decode(h(payload), Path.parse(path), REG)


# --- lenient decoding: a multiple resource sent as one value -----------------------------


@pytest.mark.parametrize(
    ("payload", "path", "node"),
    [
        # Available Power Sources (/3/0/6, Integer, Multiple) as "resource with value" 5
        ("C1 06 05", "/3/0", InstanceNode(0, {6: MultiResourceNode(6, {0: 5})})),
        ("C1 06 05", "/3/0/6", MultiResourceNode(6, {0: 5})),
        (
            "08 00 06 C1 06 05 C1 09 64",
            "/3",
            ObjectNode(
                3,
                {0: InstanceNode(0, {6: MultiResourceNode(6, {0: 5}), 9: ResourceNode(9, 100)})},
            ),
        ),
    ],
)
def test_multiple_resource_sent_as_a_single_value_is_instance_0(
    payload: str, path: str, node: object, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="lwm2m.formats.tlv"):
        assert tlv.decode(h(payload), Path.parse(path), REG) == node
    [record] = caplog.records
    assert record.levelno == logging.WARNING and record.name == "lwm2m.formats.tlv"
    assert "/3/0/6" in record.getMessage() and "resource instance 0" in record.getMessage()
    # written back in the canonical form: a Multiple Resource TLV holding instance 0
    p = Path.parse(path)
    assert tlv.decode(tlv.encode(node, p, REG), p, REG) == node  # type: ignore[arg-type]


def test_one_warning_per_payload(caplog: pytest.LogCaptureFixture) -> None:
    # three instances, each with /3/i/6 and /3/i/7 (both multiple) as single values
    body = h("C1 06 05 C2 07 0E D8")
    payload = b"".join(bytes((0x08, i, len(body))) + body for i in range(3))
    with caplog.at_level(logging.WARNING, logger="lwm2m.formats.tlv"):
        node = tlv.decode(payload, Path(3), REG)
    assert isinstance(node, ObjectNode) and len(node.instances) == 3
    assert node.instances[2].resources[7] == MultiResourceNode(7, {0: 3800})
    [record] = caplog.records
    assert "/3/0/6 and 5 more" in record.getMessage()


def test_well_formed_multiple_resources_log_nothing(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="lwm2m.formats.tlv"):
        assert tlv.decode(h("83 06 41 00 05"), Path(3, 0), REG) == InstanceNode(
            0, {6: MultiResourceNode(6, {0: 5})}
        )
    assert caplog.records == []


def test_decode_error_names_the_offset() -> None:
    with pytest.raises(DecodeError) as info:
        tlv.decode(DEVICE_BODY + h("C8 11 05 41"), Path(3, 0), REG)
    assert info.value.offset == len(DEVICE_BODY)


def test_root_path_and_records_are_unsupported() -> None:
    with pytest.raises(UnsupportedFormat):
        tlv.encode({Path(3, 0, 0): "x"}, Path(), REG)
    with pytest.raises(UnsupportedFormat):
        tlv.encode({Path(3, 0, 0): "x"}, Path(3), REG)
    with pytest.raises(UnsupportedFormat):
        tlv.decode(DEVICE_BODY, Path(), REG)


@pytest.mark.parametrize(
    ("node", "path"),
    [
        (InstanceNode(0), "/3"),
        (ObjectNode(3), "/3/0"),
        (InstanceNode(0), "/3/0/0"),
        (ResourceNode(1, "x"), "/3/0/0"),
        (MultiResourceNode(0, {}), "/3/0/0"),
        (ResourceNode(6, 1), "/3/0/6"),
        (MultiResourceNode(6, {}), "/3/0/6/0"),
    ],
)
def test_node_that_does_not_fit_the_path_is_an_encode_error(node: object, path: str) -> None:
    with pytest.raises(EncodeError):
        tlv.encode(node, Path.parse(path), REG)  # type: ignore[arg-type]


# --- property-based round trips --------------------------------------------------------------

INT64 = st.integers(-(2**63), 2**63 - 1)
VALUES: dict[ResourceType, st.SearchStrategy[object]] = {
    T.STRING: st.text(max_size=300),
    T.CORELNK: st.text(max_size=40),
    T.INTEGER: st.one_of(INT64, st.sampled_from([0, -1, 2**63 - 1, -(2**63), 127, 128])),
    T.TIME: INT64,
    T.UNSIGNED_INTEGER: st.one_of(st.integers(0, 2**64 - 1), st.sampled_from([2**63, 2**64 - 1])),
    T.FLOAT: st.floats(allow_nan=False),
    T.BOOLEAN: st.booleans(),
    T.OPAQUE: st.binary(max_size=300),
    T.OBJLNK: st.builds(ObjLink, st.integers(0, 65535), st.integers(0, 65535)),
}
RI_IDS = st.one_of(st.integers(0, 300), st.just(65534))


@st.composite
def instances(draw: st.DrawFn, iid: int | None = None) -> InstanceNode:
    ident = draw(st.integers(0, 65534)) if iid is None else iid
    resources: dict[int, ResourceNode | MultiResourceNode] = {}
    for rid, rtype in SINGLE.items():
        if draw(st.booleans()):
            resources[rid] = ResourceNode(rid, draw(VALUES[rtype]))  # type: ignore[arg-type]
    for rid, rtype in MULTI.items():
        if draw(st.booleans()):
            values = draw(st.dictionaries(RI_IDS, VALUES[rtype], max_size=4))
            resources[rid] = MultiResourceNode(rid, values)  # type: ignore[arg-type]
    if draw(st.booleans()):
        resources[WIDE_ID] = ResourceNode(WIDE_ID, draw(INT64))
    order = draw(st.permutations(list(resources)))
    return InstanceNode(ident, {rid: resources[rid] for rid in order})


@settings(max_examples=150, deadline=None)
@given(instances(iid=7))
def test_instance_round_trip(node: InstanceNode) -> None:
    path = Path(ALL_TYPES_ID, 7)
    payload = tlv.encode(node, path, REG)
    assert tlv.decode(payload, path, REG) == node
    assert tlv.encode(tlv.decode(payload, path, REG), path, REG) == payload


@settings(max_examples=60, deadline=None)
@given(st.lists(instances(), max_size=3, unique_by=lambda i: i.id))
def test_object_round_trip(insts: list[InstanceNode]) -> None:
    node = ObjectNode(ALL_TYPES_ID, {i.id: i for i in insts})
    path = Path(ALL_TYPES_ID)
    payload = tlv.encode(node, path, REG)
    assert tlv.decode(payload, path, REG) == node


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(MULTI)), RI_IDS, st.data())
def test_resource_instance_round_trip(rid: int, ri: int, data: st.DataObject) -> None:
    value = data.draw(VALUES[MULTI[rid]])
    path = Path(ALL_TYPES_ID, 0, rid, ri)
    payload = tlv.encode(ResourceNode(ri, value), path, REG)  # type: ignore[arg-type]
    assert tlv.decode(payload, path, REG) == ResourceNode(ri, value)  # type: ignore[arg-type]
