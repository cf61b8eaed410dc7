"""OMA LwM2M object definition files (DDF XML, schema ``LWM2M.xsd`` 1.0 / 1.1 / 1.2).

A DDF file holds one ``<LWM2M>`` root with one or more ``<Object
ObjectType="MODefinition">`` elements; each lists its resources as
``<Resources><Item ID="n">…</Item></Resources>``. Namespaces are ignored
(any prefix, or none), unknown elements are skipped.

The files come from users and third parties, so the loader is strict and
safe: the document is decoded to text first (UTF-8, UTF-16 and UTF-32 with
or without a byte order mark, or the encoding its XML declaration names),
then parsed by expat, which refuses a DOCTYPE declaration the moment it
starts, so there is no DTD, no entity declaration, no entity expansion and no
external resource whatever the encoding. Every problem raises
:class:`~lwm2m.errors.DecodeError` with the file name and the element path,
e.g. ``objects/foo.xml: Object[0]/Resources/Item[ID=5]/Type: unknown type
'Strng'``, or the line and column of a syntax error.
"""

from __future__ import annotations

import codecs
import re
import xml.etree.ElementTree as ET
from pathlib import Path as FsPath
from xml.parsers import expat

from lwm2m.errors import DecodeError, ModelError
from lwm2m.model.definitions import ObjectDef, Operations, ResourceDef
from lwm2m.model.path import MAX_ID
from lwm2m.model.types import ResourceType

__all__ = ["dump_ddf", "load_ddf_bytes", "load_ddf_path", "object_urn"]

_SCHEMA_LOCATION = "http://www.openmobilealliance.org/tech/profiles/LWM2M-v1_1.xsd"
_XSI = "http://www.w3.org/2001/XMLSchema-instance"

_ENCODING_RE = re.compile(rb"""<\?xml[^>]*?encoding\s*+=\s*+["']([A-Za-z0-9._-]++)["']""")
_VERSION_RE = re.compile(r"\d++\.\d++(?:\.\d++)?+")
_ID_RE = re.compile(r"\d{1,5}")


def object_urn(object_id: int, version: str = "1.0") -> str:
    """The object URN the OMA registry assigns (LwM2M Core TS 7.2.2).

    ``urn:oma:lwm2m:{oma|ext|x}:{id}``, with ``:{version}`` appended when the
    object version is not 1.0. The class follows the object id ranges: 0-1023
    OMA objects, 1024-10240 objects of other standards bodies (IPSO …),
    above that vendor and private objects.
    """
    if object_id < 1024:
        kind = "oma"
    elif object_id <= 10240:
        kind = "ext"
    else:
        kind = "x"
    urn = f"urn:oma:lwm2m:{kind}:{object_id}"
    return urn if version in ("", "1.0") else f"{urn}:{version}"


# --- loading ------------------------------------------------------------------


def load_ddf_path(path: FsPath) -> list[ObjectDef]:
    """Load one DDF file, or every ``*.xml`` file of a directory in name order.

    Raise :class:`DecodeError` for bad content, also when two files of a
    directory define the same object id; ``OSError`` when a file cannot be
    read.
    """
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".xml" and p.is_file())
        out: list[ObjectDef] = []
        seen: dict[int, FsPath] = {}
        for file in files:
            for obj in load_ddf_bytes(file.read_bytes(), str(file)):
                if obj.id in seen:
                    raise DecodeError(
                        f"{file}: object {obj.id} is already defined in {seen[obj.id]}"
                    )
                seen[obj.id] = file
                out.append(obj)
        return out
    return load_ddf_bytes(path.read_bytes(), str(path))


def load_ddf_bytes(data: bytes, name: str = "<ddf>") -> list[ObjectDef]:
    """Parse DDF XML ``data``; ``name`` (usually the file name) prefixes every error message."""
    return _Loader(name).document(_parse(_decode(data, name), name))


def _parse(text: str, name: str) -> ET.Element:
    """Parse the document text into an element tree; any DTD is refused.

    Expat reports the start of a DOCTYPE before it reads any declaration in it, and
    the handler stops the parse there: entities are never declared, so never
    expanded, and nothing external is ever loaded. The parser reads the text it is
    given (Python hands it over as UTF-8 whatever the document declares), so no
    choice of encoding can hide a declaration from this check. Entity and external
    reference handlers refuse as well, in case a DTD ever got through.
    """
    builder = ET.TreeBuilder()
    parser = expat.ParserCreate(namespace_separator="}")
    parser.buffer_text = True
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(what: str) -> DecodeError:
        return DecodeError(
            f"{name}: {what} are not allowed in DDF files (line "
            f"{parser.CurrentLineNumber}, column {parser.CurrentColumnNumber})"
        )

    def doctype(*_: object) -> None:
        raise refuse("DOCTYPE declarations")

    def entity(*_: object) -> None:
        raise refuse("ENTITY declarations")

    def external(*_: object) -> int:
        raise refuse("external entity references")

    parser.StartDoctypeDeclHandler = doctype
    parser.EntityDeclHandler = entity
    parser.UnparsedEntityDeclHandler = entity
    parser.ExternalEntityRefHandler = external
    # Names keep expat's "uri}local" spelling; the loader reads local names only.
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(text, True)
    except expat.ExpatError as exc:
        raise DecodeError(f"{name}: not well-formed XML: {exc}") from None
    root: ET.Element = builder.close()
    return root


def _decode(data: bytes, name: str) -> str:
    """The document's text: by its byte order mark, its first bytes or its XML declaration."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"{name}: DDF data must be bytes, not {type(data).__name__}")
    raw = bytes(data)
    # XML 1.0 Appendix F: the UTF-32 forms first (their first bytes start like UTF-16's).
    if raw.startswith(codecs.BOM_UTF8):
        encoding, raw = "utf-8", raw[len(codecs.BOM_UTF8) :]
    elif raw.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        encoding = "utf-32"
    elif raw.startswith(b"\x00\x00\x00<"):
        encoding = "utf-32-be"
    elif raw.startswith(b"<\x00\x00\x00"):
        encoding = "utf-32-le"
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    elif raw.startswith(b"\x00<"):
        encoding = "utf-16-be"
    elif raw.startswith(b"<\x00"):
        encoding = "utf-16-le"
    else:
        m = _ENCODING_RE.match(raw)
        encoding = m.group(1).decode("ascii") if m else "utf-8"
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise DecodeError(f"{name}: unknown encoding {encoding!r}") from None
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as exc:
        raise DecodeError(f"{name}: invalid {encoding} text: {exc.reason}", exc.start) from None
    except (LookupError, ValueError) as exc:  # codecs that are not text encodings
        raise DecodeError(f"{name}: cannot decode as {encoding!r}: {exc}") from None


def _local(tag: object) -> str:
    """Element name without namespace ("uri}Item" -> "Item"); comments and PIs give ""."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


class _Loader:
    """Turns a parsed ``<LWM2M>`` tree into definitions; ``fail`` builds the errors."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def fail(self, where: str, message: str) -> DecodeError:
        return DecodeError(f"{self.name}: {where}: {message}")

    # -- generic element access ------------------------------------------------
    def child(self, elem: ET.Element, tag: str, where: str, *, required: bool) -> ET.Element | None:
        found = [c for c in elem if _local(c.tag) == tag]
        if len(found) > 1:
            raise self.fail(f"{where}/{tag}", f"element appears {len(found)} times")
        if not found:
            if required:
                raise self.fail(where, f"missing <{tag}>")
            return None
        return found[0]

    def text(self, elem: ET.Element, tag: str, where: str, *, required: bool) -> str:
        c = self.child(elem, tag, where, required=required)
        if c is None:
            return ""
        if len(c):
            raise self.fail(f"{where}/{tag}", "expected text, found child elements")
        return (c.text or "").strip()

    def choice(self, elem: ET.Element, tag: str, where: str, yes: str, no: str) -> bool:
        value = self.text(elem, tag, where, required=True)
        if value.lower() == yes.lower():
            return True
        if value.lower() == no.lower():
            return False
        raise self.fail(f"{where}/{tag}", f"expected {yes} or {no}, got {value!r}")

    def ident(self, value: str | None, where: str, what: str) -> int:
        s = (value or "").strip()
        if not _ID_RE.fullmatch(s):
            raise self.fail(where, f"{what} {value!r} is not a decimal integer")
        n = int(s)
        if n > MAX_ID:
            raise self.fail(where, f"{what} {n} out of range 0..{MAX_ID}")
        return n

    def version(self, elem: ET.Element, tag: str, where: str) -> str:
        value = self.text(elem, tag, where, required=False) or "1.0"
        if not _VERSION_RE.fullmatch(value):
            raise self.fail(f"{where}/{tag}", f"invalid version {value!r}")
        return value

    # -- the document --------------------------------------------------------
    def document(self, root: ET.Element) -> list[ObjectDef]:
        if _local(root.tag) != "LWM2M":
            raise self.fail(_local(root.tag) or "root", "root element must be <LWM2M>")
        objects = [e for e in root if _local(e.tag) == "Object"]
        if not objects:
            raise self.fail("LWM2M", "no <Object> element")
        out: list[ObjectDef] = []
        seen: set[int] = set()
        for index, elem in enumerate(objects):
            obj = self.object(elem, f"Object[{index}]")
            if obj.id in seen:
                raise self.fail(f"Object[{index}]/ObjectID", f"object {obj.id} defined twice")
            seen.add(obj.id)
            out.append(obj)
        return out

    def object(self, elem: ET.Element, where: str) -> ObjectDef:
        kind = elem.get("ObjectType")
        if kind is not None and kind.strip() != "MODefinition":
            raise self.fail(where, f"ObjectType must be MODefinition, got {kind!r}")
        object_id = self.ident(
            self.text(elem, "ObjectID", where, required=True), f"{where}/ObjectID", "object id"
        )
        name = self.text(elem, "Name", where, required=True)
        if not name:
            raise self.fail(f"{where}/Name", "empty name")
        version = self.version(elem, "ObjectVersion", where)
        lwm2m_version = self.version(elem, "LWM2MVersion", where)
        urn = self.text(elem, "ObjectURN", where, required=False) or object_urn(object_id, version)
        multiple = self.choice(elem, "MultipleInstances", where, "Multiple", "Single")
        mandatory = self.choice(elem, "Mandatory", where, "Mandatory", "Optional")
        description = self.text(elem, "Description1", where, required=False)

        container = self.child(elem, "Resources", where, required=True)
        assert container is not None
        resources: dict[int, ResourceDef] = {}
        items = [c for c in container if _local(c.tag) == "Item"]
        for index, item in enumerate(items):
            res = self.resource(item, f"{where}/Resources", index)
            if res.id in resources:
                raise self.fail(
                    f"{where}/Resources/Item[ID={res.id}]", f"duplicate resource id {res.id}"
                )
            resources[res.id] = res
        try:
            return ObjectDef(
                id=object_id,
                name=name,
                resources=resources,
                multiple=multiple,
                mandatory=mandatory,
                version=version,
                lwm2m_version=lwm2m_version,
                urn=urn,
                description=description,
            )
        except ModelError as exc:
            raise self.fail(where, str(exc)) from None

    def resource(self, item: ET.Element, parent: str, index: int) -> ResourceDef:
        raw_id = item.get("ID")
        if raw_id is None:
            raise self.fail(f"{parent}/Item[{index}]", "missing ID attribute")
        rid = self.ident(raw_id, f"{parent}/Item[{index}]", "resource ID")
        where = f"{parent}/Item[ID={rid}]"
        name = self.text(item, "Name", where, required=True)
        if not name:
            raise self.fail(f"{where}/Name", "empty name")
        ops_text = self.text(item, "Operations", where, required=True)
        try:
            operations = Operations.from_ddf(ops_text)
        except ModelError:
            raise self.fail(
                f"{where}/Operations", f"unknown operations {ops_text!r} (R, W, RW, E or empty)"
            ) from None
        type_text = self.text(item, "Type", where, required=True)
        try:
            rtype = ResourceType.from_ddf(type_text)
        except ModelError:
            raise self.fail(f"{where}/Type", f"unknown type {type_text!r}") from None
        # An executable resource carries no value; any other resource needs one
        # (LwM2M Core TS Appendix D: Type is empty exactly for E resources).
        if operations.executable and rtype is not ResourceType.NONE:
            raise self.fail(
                f"{where}/Type", f"executable resource must have no type, got {type_text!r}"
            )
        if not operations.executable and rtype is ResourceType.NONE:
            raise self.fail(f"{where}/Type", "only executable resources may have no type")
        multiple = self.choice(item, "MultipleInstances", where, "Multiple", "Single")
        mandatory = self.choice(item, "Mandatory", where, "Mandatory", "Optional")
        try:
            return ResourceDef(
                id=rid,
                name=name,
                type=rtype,
                operations=operations,
                multiple=multiple,
                mandatory=mandatory,
                range_text=self.text(item, "RangeEnumeration", where, required=False),
                units=self.text(item, "Units", where, required=False),
                description=self.text(item, "Description", where, required=False),
            )
        except ModelError as exc:
            raise self.fail(where, str(exc)) from None


# --- writing ------------------------------------------------------------------


def dump_ddf(obj: ObjectDef) -> bytes:
    """Write ``obj`` as a DDF XML document (UTF-8); :func:`load_ddf_bytes` reads it back equal."""
    root = ET.Element(
        "LWM2M",
        {"xmlns:xsi": _XSI, "xsi:noNamespaceSchemaLocation": _SCHEMA_LOCATION},
    )
    elem = ET.SubElement(root, "Object", {"ObjectType": "MODefinition"})
    _leaf(elem, "Name", obj.name)
    _leaf(elem, "Description1", obj.description)
    _leaf(elem, "ObjectID", str(obj.id))
    _leaf(elem, "ObjectURN", obj.urn or object_urn(obj.id, obj.version))
    _leaf(elem, "LWM2MVersion", obj.lwm2m_version)
    _leaf(elem, "ObjectVersion", obj.version)
    _leaf(elem, "MultipleInstances", "Multiple" if obj.multiple else "Single")
    _leaf(elem, "Mandatory", "Mandatory" if obj.mandatory else "Optional")
    container = ET.SubElement(elem, "Resources")
    for rid in sorted(obj.resources):
        res = obj.resources[rid]
        item = ET.SubElement(container, "Item", {"ID": str(res.id)})
        _leaf(item, "Name", res.name)
        _leaf(item, "Operations", res.operations.to_ddf())
        _leaf(item, "MultipleInstances", "Multiple" if res.multiple else "Single")
        _leaf(item, "Mandatory", "Mandatory" if res.mandatory else "Optional")
        _leaf(item, "Type", "" if res.type is ResourceType.NONE else res.type.value)
        _leaf(item, "RangeEnumeration", res.range_text)
        _leaf(item, "Units", res.units)
        _leaf(item, "Description", res.description)
    _leaf(elem, "Description2", "")
    ET.indent(root, space="  ")
    data: bytes = ET.tostring(
        root, encoding="utf-8", xml_declaration=True, short_empty_elements=False
    )
    return data + b"\n"


def _leaf(parent: ET.Element, tag: str, text: str) -> None:
    ET.SubElement(parent, tag).text = text
