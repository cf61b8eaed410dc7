"""Caches of the SenML-like codecs (definitions, names, layouts, Objlnk) keep every check."""

from __future__ import annotations

import cbor2
import pytest

from lwm2m.errors import DecodeError
from lwm2m.formats import lwm2m_cbor, senml_cbor, senml_json
from lwm2m.model import ObjectDef, ObjLink, Path, Registry, ResourceDef, ResourceNode, ResourceType

P = Path.parse


def _registry(rtype: ResourceType) -> Registry:
    return Registry([ObjectDef(3, "Device", {9: ResourceDef(9, "r9", rtype)}, multiple=False)])


def test_a_replaced_definition_types_values_by_the_new_one() -> None:
    payload = b'[{"bn":"/3/0/9","v":5}]'
    assert senml_json.decode(payload, P("/3/0/9"), _registry(ResourceType.INTEGER)) == (
        ResourceNode(9, 5)
    )
    with pytest.raises(DecodeError, match="field v"):
        senml_json.decode(payload, P("/3/0/9"), _registry(ResourceType.STRING))
    floats = senml_json.decode(payload, P("/3/0/9"), _registry(ResourceType.FLOAT))
    assert isinstance(floats, ResourceNode) and type(floats.value) is float


def test_a_known_record_layout_still_checks_its_fields() -> None:
    reg = _registry(ResourceType.INTEGER)
    good = b'[{"n":"/3/0/9","v":1}]'
    assert senml_json.decode(good, P("/"), reg) == {P("/3/0/9"): 1}  # layout ("n", "v") learned
    for bad in (b'[{"n":9,"v":1}]', b'[{"n":"/3/0/9x","v":1}]', b'[{"n":"/3/0/9","v":"1"}]'):
        with pytest.raises(DecodeError, match="record 0"):
            senml_json.decode(bad, P("/"), reg)
    with pytest.raises(DecodeError, match="record 1"):
        senml_json.decode(b'[{"n":"/3/0/9","v":1},{"bn":7,"n":"/3/0/9","v":1}]', P("/"), reg)


def test_senml_cbor_keys_equal_to_labels_read_like_the_labels() -> None:
    # CBOR false == 0 in Python: a map key false reads as the name label, in either path.
    reg = _registry(ResourceType.INTEGER)
    for _ in range(2):
        payload = cbor2.dumps([{False: "/3/0/9", 2: 7}])
        assert senml_cbor.decode(payload, P("/"), reg) == {P("/3/0/9"): 7}


def test_objlnk_values_are_shared_but_equal() -> None:
    payload = b'[{"n":"/3/0/22/0","vlo":"3:1"}]'
    first = senml_json.decode(payload, P("/"), _objlnk_registry())
    second = senml_json.decode(payload, P("/"), _objlnk_registry())
    assert first == second == {P("/3/0/22/0"): ObjLink(3, 1)}


def _objlnk_registry() -> Registry:
    rdef = ResourceDef(22, "r22", ResourceType.OBJLNK, multiple=True)
    return Registry([ObjectDef(3, "Device", {22: rdef}, multiple=False)])


def test_lwm2m_cbor_rejects_bool_ids_after_the_same_int_path_was_seen() -> None:
    reg = _registry(ResourceType.INTEGER)
    assert lwm2m_cbor.decode(cbor2.dumps({(3, 0, 9): 1}), P("/3/0/9"), reg) == ResourceNode(9, 1)
    with pytest.raises(DecodeError, match="bad key"):
        lwm2m_cbor.decode(cbor2.dumps({(3, False, 9): 1}), P("/3/0/9"), reg)
    with pytest.raises(DecodeError, match="bad key"):
        lwm2m_cbor.decode(cbor2.dumps({3: {0: {True: 1}}}), P("/3/0/9"), reg)
