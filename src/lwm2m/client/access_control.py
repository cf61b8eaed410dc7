"""Access control with the Access Control Object (2), LwM2M Core TS 1.1 section 7.3 and E.3.

Theory of operation
-------------------
Each instance of object 2 guards one object instance (``/2/x/0`` Object ID,
``/2/x/1`` Object Instance ID) or, with Object Instance ID 65535, the object
itself for Create. Its ACL (``/2/x/2``) is a multiple resource whose instance
ids are Short Server IDs and whose values are bit masks of :class:`Right`;
instance 0 is the default for servers without an entry of their own. The
Access Control Owner (``/2/x/3``) is the server that manages the instance;
when the ACL resource is absent the owner has every right.

The rights of server ``s`` on ``/o/i``:

1. only one server account configured: everything (access control is off,
   which the specification allows);
2. no Access Control instance for ``/o/i``: nothing;
3. ACL entry for ``s``, else the default entry 0, else: everything but Create
   when ``s`` is the owner and the ACL resource is absent, nothing otherwise.

Read covers Read, Discover, Write-Attributes and Observe. The Access Control
instances themselves are readable by every server and writable by their
owner only; servers never create or delete them. An instance created by a
server gets an Access Control instance owned by that server (without ACL:
full rights for the owner), removed again when the instance is deleted.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

from lwm2m.client.store import ObjectStore
from lwm2m.errors import NotFound, Unauthorized
from lwm2m.model import Path

__all__ = ["ACCESS_CONTROL_OBJECT", "OBJECT_LEVEL", "AccessControl", "Right"]

ACCESS_CONTROL_OBJECT = 2
SERVER_OBJECT = 1
#: Object Instance ID of the Access Control instance that governs Create on an object.
OBJECT_LEVEL = 65535
ACO_OBJECT_ID, ACO_INSTANCE_ID, ACO_ACL, ACO_OWNER = 0, 1, 2, 3


class Right(enum.IntFlag):
    """ACL bits (Core TS 1.1 E.3, resource 2)."""

    NONE = 0
    READ = 1
    WRITE = 2
    EXECUTE = 4
    DELETE = 8
    CREATE = 16
    #: What an owner without ACL entries may do on its instance.
    OWNER = READ | WRITE | EXECUTE | DELETE


class AccessControl:
    """Answers "may server ``ssid`` do ``right`` on ``path``?" from the store's object 2."""

    def __init__(self, store: ObjectStore) -> None:
        self.store = store

    # -------------------------------------------------------------- state
    @property
    def enforced(self) -> bool:
        """Access control applies only with more than one server account (Core TS 7.3)."""
        return self.store.instance_count(SERVER_OBJECT) > 1

    def _value(self, aco: int, rid: int) -> object:
        try:
            return self.store.get(Path(ACCESS_CONTROL_OBJECT, aco, rid))
        except (NotFound, ValueError):
            return None

    def find(self, object_id: int, instance_id: int) -> int | None:
        """The Access Control instance guarding ``/object_id/instance_id``, if any."""
        for aco in self.store.instance_ids(ACCESS_CONTROL_OBJECT):
            if (
                self._value(aco, ACO_OBJECT_ID) == object_id
                and self._value(aco, ACO_INSTANCE_ID) == instance_id
            ):
                return aco
        return None

    def owner(self, object_id: int, instance_id: int) -> int | None:
        aco = self.find(object_id, instance_id)
        value = None if aco is None else self._value(aco, ACO_OWNER)
        return value if isinstance(value, int) else None

    def rights(self, ssid: int, object_id: int, instance_id: int) -> Right:
        """The rights of server ``ssid`` on an instance (or OBJECT_LEVEL for Create)."""
        if not self.enforced:
            return Right.OWNER | Right.CREATE
        if object_id == ACCESS_CONTROL_OBJECT:
            if instance_id == OBJECT_LEVEL:
                return Right.NONE
            owner = self._value(instance_id, ACO_OWNER)
            return Right.READ | Right.WRITE if owner == ssid else Right.READ
        aco = self.find(object_id, instance_id)
        if aco is None:
            return Right.NONE
        acl = self._value(aco, ACO_ACL)
        if isinstance(acl, Mapping) and acl:
            bits = acl.get(ssid, acl.get(0))
            return Right(int(bits) & 31) if isinstance(bits, int) else Right.NONE
        if self._value(aco, ACO_OWNER) == ssid and instance_id != OBJECT_LEVEL:
            return Right.OWNER
        return Right.NONE

    # ------------------------------------------------------------- checks
    def allowed(self, ssid: int, path: Path, right: Right) -> bool:
        """Whether ``right`` is granted on the instance of ``path`` (or its object for CREATE)."""
        if right is Right.CREATE:
            return bool(self.rights(ssid, path[0], OBJECT_LEVEL) & Right.CREATE)
        if len(path) < 2:
            raise ValueError(f"{path}: rights are per object instance")
        return bool(self.rights(ssid, path[0], path[1]) & right)

    def check(self, ssid: int, path: Path, right: Right) -> None:
        """Raise Unauthorized (4.01) unless ``right`` is granted."""
        if not self.allowed(ssid, path, right):
            raise Unauthorized(f"server {ssid} has no {right.name} right on {path}")

    def readable_instances(self, ssid: int, object_id: int) -> list[int]:
        """Instances of an object that ``ssid`` may read (object-level operations)."""
        return [
            iid
            for iid in self.store.instance_ids(object_id)
            if self.rights(ssid, object_id, iid) & Right.READ
        ]

    # ----------------------------------------------------- bookkeeping
    def grant(
        self,
        object_id: int,
        instance_id: int,
        *,
        owner: int,
        acl: Mapping[int, int] | None = None,
    ) -> int:
        """Application side: add (or replace) the Access Control instance of an instance.

        ``acl`` maps Short Server IDs (0: default) to :class:`Right` masks. Returns
        the Access Control instance id.
        """
        aco = self.find(object_id, instance_id)
        if aco is None:
            aco = self.store.create_instance(ACCESS_CONTROL_OBJECT)
        base = Path(ACCESS_CONTROL_OBJECT, aco)
        self.store.set(base.child(ACO_OBJECT_ID), object_id)
        self.store.set(base.child(ACO_INSTANCE_ID), instance_id)
        self.store.set(base.child(ACO_OWNER), owner)
        if acl:
            self.store.set(base.child(ACO_ACL), {int(k): int(v) for k, v in acl.items()})
        elif ACO_ACL in self.store.resource_ids(ACCESS_CONTROL_OBJECT, aco):
            self.store.delete_resource(base.child(ACO_ACL))
        return aco

    def instance_created(self, ssid: int, object_id: int, instance_id: int) -> None:
        """A server created ``/object_id/instance_id``: it owns the new instance."""
        if object_id != ACCESS_CONTROL_OBJECT and ACCESS_CONTROL_OBJECT in self.store.registry:
            self.grant(object_id, instance_id, owner=ssid)

    def instance_deleted(self, object_id: int, instance_id: int) -> None:
        """Drop the Access Control instance of a deleted instance."""
        aco = self.find(object_id, instance_id)
        if aco is not None:
            self.store.delete_instance(ACCESS_CONTROL_OBJECT, aco)
