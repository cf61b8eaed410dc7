"""Access control (object 2): rights per server, owner, default ACL, Create, engine hook."""

from __future__ import annotations

import pytest

from lwm2m.client.access_control import OBJECT_LEVEL, AccessControl, Right
from lwm2m.client.engine import Engine, ServerContext
from lwm2m.client.store import ObjectStore
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
from lwm2m.errors import Unauthorized
from lwm2m.model import Path

R, W, E, D, C = Right.READ, Right.WRITE, Right.EXECUTE, Right.DELETE, Right.CREATE


def make_store(servers: int = 2) -> ObjectStore:
    s = ObjectStore()
    for i in range(servers):
        s.create_instance(1, i)
        s.set(f"1/{i}/0", 101 + i)
    s.create_instance(3, 0)
    s.set("3/0/0", "ACME")
    s.create_instance(3303, 0)
    s.set("3303/0/5700", 20.0)
    s.create_instance(3303, 1)
    s.set("3303/1/5700", 21.0)
    return s


def test_single_server_means_no_access_control() -> None:
    ac = AccessControl(make_store(servers=1))
    assert not ac.enforced
    assert ac.allowed(101, Path(3303, 0), R | W | E | D)
    assert ac.allowed(101, Path(3303), C)


def test_no_access_control_instance_means_no_rights() -> None:
    ac = AccessControl(make_store())
    assert ac.enforced
    assert ac.rights(101, 3, 0) == Right.NONE
    with pytest.raises(Unauthorized):
        ac.check(101, Path(3, 0, 0), R)


def test_server_entry_then_default_then_owner() -> None:
    s = make_store()
    ac = AccessControl(s)
    ac.grant(3, 0, owner=101, acl={102: R, 0: R | E})
    assert ac.rights(102, 3, 0) == R  # its own entry wins over the default
    assert ac.rights(101, 3, 0) == R | E  # the default entry, even for the owner
    ac.grant(3303, 0, owner=101)  # no ACL: the owner has every right but Create
    assert ac.rights(101, 3303, 0) == Right.OWNER
    assert ac.rights(102, 3303, 0) == Right.NONE
    assert ac.readable_instances(101, 3303) == [0]
    assert ac.owner(3303, 0) == 101


def test_create_needs_the_object_level_instance() -> None:
    ac = AccessControl(make_store())
    assert not ac.allowed(102, Path(3303), C)
    ac.grant(3303, OBJECT_LEVEL, owner=101, acl={102: C})
    assert ac.allowed(102, Path(3303), C) and not ac.allowed(101, Path(3303), C)
    ac.grant(3303, OBJECT_LEVEL, owner=101)  # an owner alone does not grant Create
    assert not ac.allowed(101, Path(3303), C)


def test_access_control_instances_are_read_by_all_written_by_owner() -> None:
    ac = AccessControl(make_store())
    aco = ac.grant(3, 0, owner=101, acl={101: R})
    assert ac.rights(101, 2, aco) == R | W
    assert ac.rights(102, 2, aco) == R
    assert ac.rights(101, 2, OBJECT_LEVEL) == Right.NONE


def test_created_and_deleted_instances_keep_their_access_control() -> None:
    s = make_store()
    ac = AccessControl(s)
    ac.instance_created(102, 3303, 1)
    aco = ac.find(3303, 1)
    assert aco is not None and s.get(f"2/{aco}/3") == 102
    ac.instance_deleted(3303, 1)
    assert ac.find(3303, 1) is None and not s.has_instance(2, aco)


async def _ask(engine: Engine, ssid: int, code: Code, path: str, **kw: object) -> int:
    msg = Message.request(code, path, **kw)  # type: ignore[arg-type]
    return int((await engine.handle(msg, ServerContext(short_id=ssid))).code)


async def test_engine_enforces_rights_per_operation() -> None:
    s = make_store()
    engine = Engine(s)
    engine.access.grant(3, 0, owner=101, acl={101: R | W | E, 102: R})
    text = {"payload": b"Europe/Paris", "content_format": ContentFormat.TEXT_PLAIN}
    assert await _ask(engine, 102, Code.GET, "/3/0/0") == Code.CONTENT
    assert await _ask(engine, 102, Code.PUT, "/3/0/15", **text) == Code.UNAUTHORIZED
    assert await _ask(engine, 102, Code.POST, "/3/0/4") == Code.UNAUTHORIZED
    assert await _ask(engine, 101, Code.POST, "/3/0/4") == Code.CHANGED
    assert await _ask(engine, 101, Code.DELETE, "/3303/0") == Code.UNAUTHORIZED
    # Discover, Write-Attributes and Observe follow the Read right.
    assert await _ask(engine, 101, Code.GET, "/3303/0", accept=ContentFormat.LINK_FORMAT) == 129
    assert await _ask(engine, 101, Code.PUT, "/3303/0/5700", query="pmin=3") == 129
    assert await _ask(engine, 101, Code.PUT, "/3/0/0", query="pmin=3") == Code.CHANGED
    # A missing instance is still 4.04, and the bootstrap server is never checked.
    assert await _ask(engine, 101, Code.GET, "/3/9") == Code.NOT_FOUND
    boot = ServerContext(short_id=0, is_bootstrap=True)
    resp = await engine.handle(Message.request(Code.GET, "/3303/0"), boot)
    assert resp.code == Code.CONTENT
