"""Registry behaviour and the default registry."""

from __future__ import annotations

import dataclasses
from pathlib import Path as FsPath

import pytest

from lwm2m.model import ObjectDef, Path, Registry, ResourceDef, ResourceType, default_registry
from lwm2m.model.builtin import builtin_objects
from lwm2m.model.ddf import dump_ddf


def _obj(oid: int, name: str = "X") -> ObjectDef:
    return ObjectDef(oid, name, {0: ResourceDef(0, "A", ResourceType.STRING)})


def test_add_get_contains_len_iter() -> None:
    reg = Registry([_obj(20), _obj(3)])
    reg.add(_obj(10))
    assert len(reg) == 3
    assert 3 in reg and 20 in reg and 4 not in reg and "3" not in reg
    assert reg.get(10) == _obj(10)
    assert reg.get(11) is None
    assert reg[3].id == 3
    with pytest.raises(KeyError):
        reg[4]
    assert [o.id for o in reg] == [3, 10, 20]


def test_replace_and_no_replace() -> None:
    reg = Registry([_obj(3, "old")])
    reg.add(_obj(3, "new"))
    assert reg[3].name == "new"
    with pytest.raises(ValueError, match="already defined"):
        reg.add(_obj(3, "newer"), replace=False)
    assert reg[3].name == "new"
    reg.add(_obj(4), replace=False)
    assert 4 in reg


def test_resource_lookup() -> None:
    reg = Registry([_obj(3)])
    assert reg.resource(Path(3, 0, 0)) == ResourceDef(0, "A", ResourceType.STRING)
    assert reg.resource(Path(3, 0, 0, 1)) is not None
    assert reg.resource(Path(3, 0, 1)) is None
    assert reg.resource(Path(4, 0, 0)) is None
    assert reg.resource(Path(3, 0)) is None
    assert reg.resource(Path(3)) is None


def test_copy_is_independent() -> None:
    reg = Registry([_obj(3)])
    other = reg.copy()
    other.add(_obj(4))
    assert 4 in other and 4 not in reg
    assert other[3] is reg[3]


def test_default_registry_holds_builtins_once() -> None:
    reg = default_registry()
    assert reg is default_registry()
    assert [o.id for o in reg] == sorted(o.id for o in builtin_objects())
    for oid in (0, 1, 2, 3, 4, 5, 6, 7, 3303, 3311, 3347):
        assert oid in reg
    assert reg.resource(Path(3, 0, 11, 0)) is not None


def test_load_ddf_file_and_directory(tmp_path: FsPath) -> None:
    a = _obj(10241, "Thing A")
    b = _obj(10242, "Thing B")
    (tmp_path / "a.xml").write_bytes(dump_ddf(a))
    sub = tmp_path / "more"
    sub.mkdir()
    (sub / "b.xml").write_bytes(dump_ddf(b))
    reg = default_registry().copy()
    loaded = reg.load_ddf(tmp_path / "a.xml")
    # The definition had no URN; the file carries the default one.
    assert loaded == [dataclasses.replace(a, urn="urn:oma:lwm2m:x:10241")]
    assert reg[10241].name == "Thing A"
    assert [o.id for o in reg.load_ddf(str(sub))] == [10242]
    assert reg.resource(Path(10242, 0, 0)) is not None
    assert 10241 not in default_registry()
