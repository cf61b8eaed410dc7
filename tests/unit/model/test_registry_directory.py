"""Loading a directory of OMA DDF XML files into a registry, and the versions it keeps."""

from __future__ import annotations

import logging
from pathlib import Path as FsPath

import pytest

from lwm2m.model import ObjectDef, Operations, Path, Registry, ResourceDef, ResourceType
from lwm2m.model.registry import (
    DefinitionLoadError,
    default_registry,
    read_directory,
    version_key,
)


def ddf(
    object_id: int,
    name: str = "Vendor Meter",
    *,
    version: str = "1.0",
    items: str | None = None,
) -> str:
    """A DDF document of one object, written the way the OMA registry writes them."""
    if items is None:
        items = _item(0, "Count", "Integer") + _item(1, "Ratio", "Float", "RW")
    return f"""<?xml version="1.0" encoding="utf-8"?>
<LWM2M xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
       xsi:noNamespaceSchemaLocation="http://openmobilealliance.org/tech/profiles/LWM2M-v1_1.xsd">
  <Object ObjectType="MODefinition">
    <Name>{name}</Name>
    <Description1>Test object {object_id}.</Description1>
    <ObjectID>{object_id}</ObjectID>
    <ObjectURN></ObjectURN>
    <LWM2MVersion>1.1</LWM2MVersion>
    <ObjectVersion>{version}</ObjectVersion>
    <MultipleInstances>Multiple</MultipleInstances>
    <Mandatory>Optional</Mandatory>
    <Resources>{items}</Resources>
    <Description2></Description2>
  </Object>
</LWM2M>
"""


def _item(rid: int, name: str, rtype: str, ops: str = "R") -> str:
    return (
        f'<Item ID="{rid}"><Name>{name}</Name><Operations>{ops}</Operations>'
        "<MultipleInstances>Single</MultipleInstances><Mandatory>Optional</Mandatory>"
        f"<Type>{rtype}</Type><RangeEnumeration></RangeEnumeration><Units></Units>"
        "<Description></Description></Item>"
    )


def write(directory: FsPath, name: str, text: str) -> FsPath:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_loads_every_xml_file_in_name_order(tmp_path: FsPath) -> None:
    write(tmp_path, "b.xml", ddf(10251, "Second"))
    write(tmp_path, "a.XML", ddf(10250, "First"))
    write(tmp_path, "notes.txt", "not a definition")
    sub = tmp_path / "nested"
    sub.mkdir()
    write(sub, "c.xml", ddf(10252))  # subdirectories are not read
    reg = default_registry().copy()
    loaded = reg.load_directory(tmp_path)
    assert [(o.id, o.name) for o in loaded] == [(10250, "First"), (10251, "Second")]
    assert reg[10250].name == "First" and 10252 not in reg
    count = reg.resource(Path(10250, 0, 0))
    assert count is not None and count.type is ResourceType.INTEGER
    ratio = reg.resource(Path(10250, 0, 1))
    assert ratio is not None and ratio.type is ResourceType.FLOAT
    assert ratio.operations is Operations.RW
    # an empty <ObjectURN> gets the one the OMA registry would assign
    assert reg[10250].urn == "urn:oma:lwm2m:x:10250"
    # the shared default registry is untouched
    assert 10250 not in default_registry()


def test_accepts_a_str_path(tmp_path: FsPath) -> None:
    write(tmp_path, "a.xml", ddf(10250))
    assert [o.id for o in Registry().load_directory(str(tmp_path))] == [10250]


def test_empty_directory_loads_nothing_and_says_so(
    tmp_path: FsPath, caplog: pytest.LogCaptureFixture
) -> None:
    reg = Registry()
    with caplog.at_level(logging.WARNING, logger="lwm2m.model.registry"):
        assert reg.load_directory(tmp_path) == []
    assert len(reg) == 0
    assert str(tmp_path) in caplog.text and "*.xml" in caplog.text


def test_other_versions_are_kept_and_the_highest_is_current(tmp_path: FsPath) -> None:
    device_10 = ddf(3, "Device", version="1.0", items=_item(0, "Manufacturer", "String"))
    write(tmp_path, "3.xml", device_10)
    write(tmp_path, "10250-1_0.xml", ddf(10250, "Meter", version="1.0"))
    write(tmp_path, "10250-2_0.xml", ddf(10250, "Meter", version="2.0"))
    reg = default_registry().copy()
    builtin_device = reg[3]
    assert builtin_device.version == "1.1"
    reg.load_directory(tmp_path)
    # Device 1.0 is known by version, the built-in 1.1 stays the one the codecs use.
    assert reg[3] is builtin_device
    old = reg.get_version(3, "1.0")
    assert old is not None and list(old.resources) == [0]
    assert reg.get_version(3, "1.1") is builtin_device
    assert [o.version for o in reg.versions(3)] == ["1.0", "1.1"]
    # Two versions of a vendor object: both known, the newer current.
    assert reg[10250].version == "2.0"
    assert [o.version for o in reg.versions(10250)] == ["1.0", "2.0"]
    assert reg.get_version(10250, "1.5") is None
    assert reg.get_version(10251, "1.0") is None
    assert reg.get_version(10250, "garbage") is None
    assert [(o.id, o.version) for o in reg.all_versions() if o.id in (3, 10250)] == [
        (3, "1.0"),
        (3, "1.1"),
        (10250, "1.0"),
        (10250, "2.0"),
    ]


def test_a_file_replaces_a_definition_of_the_same_version(tmp_path: FsPath) -> None:
    items = _item(0, "Manufacturer", "String") + _item(30000, "Vendor Extra", "Integer")
    write(tmp_path, "device.xml", ddf(3, "Device", version="1.1", items=items))
    reg = default_registry().copy()
    reg.load_directory(tmp_path)
    assert reg[3].resources.keys() == {0, 30000}
    assert reg.get_version(3, "1.1") is reg[3]
    # the built-in Device 1.0 (LwM2M 1.0 model) stays beside it
    assert [o.version for o in reg.versions(3)] == ["1.0", "1.1"]


def test_two_files_with_the_same_object_version_are_refused(tmp_path: FsPath) -> None:
    write(tmp_path, "a.xml", ddf(10250, "One"))
    write(tmp_path, "b.xml", ddf(10251))
    write(tmp_path, "c.xml", ddf(10250, "Other"))
    reg = default_registry().copy()
    with pytest.raises(DefinitionLoadError) as info:
        reg.load_directory(tmp_path)
    message = str(info.value)
    assert message.startswith(str(tmp_path / "c.xml"))
    assert "object 10250 version 1.0" in message and str(tmp_path / "a.xml") in message
    assert info.value.path == str(tmp_path / "c.xml")
    # all or nothing: b.xml was fine but nothing was added
    assert 10250 not in reg and 10251 not in reg


def test_malformed_xml_names_the_file_and_changes_nothing(tmp_path: FsPath) -> None:
    write(tmp_path, "a.xml", ddf(10250))
    bad = write(tmp_path, "b.xml", ddf(10251).replace("</Resources>", "</Resource>"))
    reg = Registry()
    with pytest.raises(DefinitionLoadError) as info:
        reg.load_directory(tmp_path)
    message = str(info.value)
    assert message.startswith(f"{bad}: ") and "not well-formed" in message
    assert not message.startswith(f"{bad}: {bad}")  # the file is named once
    assert info.value.path == str(bad)
    assert len(reg) == 0


def test_invalid_definition_names_the_file_and_the_element(tmp_path: FsPath) -> None:
    bad = write(tmp_path, "vendor.xml", ddf(10250, items=_item(0, "Count", "Integr")))
    with pytest.raises(DefinitionLoadError) as info:
        read_directory(tmp_path)
    message = str(info.value)
    assert message.startswith(str(bad)) and "Integr" in message and "Item[ID=0]" in message


def test_a_doctype_is_refused(tmp_path: FsPath) -> None:
    text = ddf(10250).replace("<LWM2M ", '<!DOCTYPE x [<!ENTITY e "boom">]>\n<LWM2M ', 1)
    bad = write(tmp_path, "evil.xml", text)
    with pytest.raises(DefinitionLoadError, match="DOCTYPE") as info:
        read_directory(tmp_path)
    assert str(bad) in str(info.value)


def test_missing_directory_and_plain_file_are_refused(tmp_path: FsPath) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(DefinitionLoadError, match="no such directory") as info:
        Registry().load_directory(missing)
    assert info.value.path == str(missing) and str(missing) in str(info.value)
    plain = write(tmp_path, "one.xml", ddf(10250))
    with pytest.raises(DefinitionLoadError, match="not a directory") as info:
        Registry().load_directory(plain)
    assert str(plain) in str(info.value)


def test_load_errors_are_model_errors_and_value_errors(tmp_path: FsPath) -> None:
    from lwm2m.errors import ModelError

    with pytest.raises(ModelError):
        read_directory(tmp_path / "nowhere")
    with pytest.raises(ValueError):
        read_directory(tmp_path / "nowhere")


def test_add_keeps_versions_and_copy_is_independent() -> None:
    a = ObjectDef(10250, "A", {0: ResourceDef(0, "x", ResourceType.STRING)}, version="1.0")
    b = ObjectDef(10250, "B", {0: ResourceDef(0, "x", ResourceType.INTEGER)}, version="1.1")
    reg = Registry([a])
    reg.add(b)
    assert reg[10250] is b  # add() makes its definition the current one
    assert reg.get_version(10250, "1.0") is a and reg.get_version(10250, "1.1") is b
    other = reg.copy()
    c = ObjectDef(10250, "C", {}, version="1.2")
    other.add(c)
    assert [o.name for o in other.versions(10250)] == ["A", "B", "C"]
    assert [o.name for o in reg.versions(10250)] == ["A", "B"]
    assert reg[10250] is b and other[10250] is c


@pytest.mark.parametrize(
    ("text", "key"),
    [("1.0", (1, 0, 0)), ("1.1", (1, 1, 0)), ("1.01", (1, 1, 0)), ("2.0.3", (2, 0, 3))],
)
def test_version_key(text: str, key: tuple[int, int, int]) -> None:
    assert version_key(text) == key


def test_version_key_defaults_and_garbage() -> None:
    assert version_key("") == (1, 0, 0)
    assert version_key("1") is None and version_key("v1.0") is None and version_key("1.x") is None
