"""The client's object store: object instances and resource values, typed by definitions.

Theory of operation
-------------------
The store holds, per object id, its instances; per instance, its resources.
A single resource holds a value, a multiple resource a ``{instance id: value}``
map. A value may be a callable that is read on demand (the seed's read
callback / "a callable as a value").

Two kinds of callers use it:

* the application, through :meth:`set` / :meth:`get` with path strings as in
  the seed's API (``"3/0/0"``). Application writes are checked against the
  resource type and range but not against the operations: a read-only
  resource stays settable by the application.
* the server, through :meth:`read`, :meth:`write`, :meth:`execute`,
  :meth:`create` and :meth:`delete`. These check operations (a read-only
  resource refuses a server write with 4.05) and raise
  :class:`~lwm2m.errors.OperationError` subclasses that carry the CoAP code.

Every write-like operation is atomic (DESIGN principle 5): the whole payload
is checked, including the application's validate callbacks, before anything
changes. Changes are reported to listeners (the observe engine) as the list
of leaf paths that changed.
"""

from __future__ import annotations

import inspect
from bisect import bisect_left
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeAlias, TypeVar, overload

from lwm2m.errors import (
    BadRequest,
    MethodNotAllowed,
    ModelError,
    NotFound,
)
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    Node,
    ObjectDef,
    ObjectNode,
    Path,
    Registry,
    ResourceDef,
    ResourceNode,
    ResourceType,
    Value,
    default_registry,
    guess_type,
)

Provider: TypeAlias = Callable[[], Value]
Stored: TypeAlias = "Value | Provider"
ChangeListener: TypeAlias = Callable[[list[Path]], None]
ValidateCallback: TypeAlias = Callable[[Path, Value], "bool | Awaitable[bool | None] | None"]
PostWriteCallback: TypeAlias = Callable[[Path, Value], "Awaitable[None] | None"]
ExecuteCallback: TypeAlias = Callable[..., Any]
InstanceCallback: TypeAlias = Callable[[Path], "Awaitable[None] | None"]
HandlerKind: TypeAlias = Literal["execute", "validate", "post_write"]


class ResourceHandlers(Protocol):
    """An object implementation answering for the resources of one instance
    (:class:`~lwm2m.objects._base.ObjectInstance`)."""

    def handler(self, kind: HandlerKind, rid: int) -> Callable[[Any], Any] | None:
        """What handles ``kind`` for resource ``rid``: called with the Execute argument
        string or the written value (like the Path-keyed callbacks, without the path)."""
        ...


async def call_maybe_async(func: Callable[..., Any], *args: Any) -> Any:
    """Call a sync or async callback and return its result."""
    result = func(*args)
    if inspect.isawaitable(result):
        return await result
    return result


def _resolve(stored: Stored) -> Value:
    return stored() if callable(stored) else stored


_V = TypeVar("_V")
_D = TypeVar("_D")
_K = TypeVar("_K")
_T = TypeVar("_T")
_Snapshot: TypeAlias = tuple[
    "ObjectDef | None", dict[int, "ResourceNode | MultiResourceNode"], tuple[int, ...]
]
_NO_DEFS: dict[int, ResourceDef] = {}
_PENDING = ResourceNode(-1, None)  # a snapshot's place of a resource read on demand


def _put(table: dict[int, _V], key: int, value: _V) -> None:
    """``table[key] = value`` keeping a multiple resource's instances in ascending id order,
    so a Read walks them as they are instead of sorting on every request."""
    if key in table or not table or key > next(reversed(table)):
        table[key] = value
        return
    table[key] = value
    ordered = sorted(table.items())
    table.clear()
    table.update(ordered)


def _ordered(table: dict[int, _V]) -> dict[int, _V]:
    """``table`` in ascending key order: itself when it already is, else a sorted copy."""
    previous = -1
    for key in table:
        if key <= previous:
            return dict(sorted(table.items()))
        previous = key
    return table


# Multiple resources of plain values, often the same on every device of a fleet (an
# error code list, the bearers, the protocols supported), are shared between stores
# instead of costing each device a dict of 224 bytes or more. A stored multiple
# resource is therefore never changed in place: a change stores a new dict. Bounded
# like _SHARED_IDS; exact types only, so that 1, 1.0 and True stay apart.
_SHARED_MULTI: dict[tuple[tuple[int, type, object], ...], dict[int, Any]] = {}
_SHARED_MULTI_MAX = 1024
_SHAREABLE = frozenset({int, str, bytes, bool})


def _shared_multi(table: dict[int, _V]) -> dict[int, _V]:
    """``table`` or an equal shared dict (for values of the types in _SHAREABLE)."""
    if not all(type(v) in _SHAREABLE for v in table.values()):
        return table
    key = tuple((k, type(v), v) for k, v in table.items())
    return _interned(_SHARED_MULTI, key, table, _SHARED_MULTI_MAX)


# Id tuples shared by every _IdMap holding the same ids: the instances of one object
# usually have the same resources, on every device of a fleet. Bounded, as a server
# may create instances with any set of resources; past the bound tuples go unshared.
_SHARED_IDS: dict[tuple[int, ...], tuple[int, ...]] = {}
_SHARED_IDS_MAX = 4096


def _shared_ids(ids: tuple[int, ...]) -> tuple[int, ...]:
    return _interned(_SHARED_IDS, ids, ids, _SHARED_IDS_MAX)


def _interned(cache: dict[_K, _T], key: _K, value: _T, bound: int) -> _T:
    """What ``cache`` holds for ``key``, else ``value``, kept while ``cache`` is under ``bound``."""
    found = cache.get(key)
    if found is not None:
        return found
    if len(cache) < bound:
        cache[key] = value
    return value


class _IdMap(Generic[_V]):
    """``{id: value}`` kept in ascending id order: the store's objects (instance id ->
    instance) and instances (resource id -> stored value).

    A store holds one per object and instance of every device; as a dict each costs
    224 to 632 bytes. Here the ids are a tuple shared with every map of the same ids
    and the values a tuple of their own: about 100 bytes plus 8 per entry. Lookups
    bisect the ids; a change builds a new values tuple (a few entries: cheap).
    """

    __slots__ = ("_ids", "_values")

    def __init__(self) -> None:
        self._ids: tuple[int, ...] = ()
        self._values: tuple[_V, ...] = ()

    def _find(self, key: int) -> int:
        """The position of ``key``, or -1."""
        ids = self._ids
        i = bisect_left(ids, key)
        return i if i < len(ids) and ids[i] == key else -1

    def __len__(self) -> int:
        return len(self._ids)

    def __iter__(self) -> Iterator[int]:
        return iter(self._ids)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, int) and self._find(key) >= 0

    def __getitem__(self, key: int) -> _V:
        i = self._find(key)
        if i < 0:
            raise KeyError(key)
        return self._values[i]

    @overload
    def get(self, key: int) -> _V | None: ...
    @overload
    def get(self, key: int, default: _D) -> _V | _D: ...
    def get(self, key: int, default: object = None) -> object:
        i = self._find(key)
        return default if i < 0 else self._values[i]

    def __setitem__(self, key: int, value: _V) -> None:
        ids, values = self._ids, self._values
        i = bisect_left(ids, key)
        if i < len(ids) and ids[i] == key:
            self._values = (*values[:i], value, *values[i + 1 :])
            return
        self._ids = _shared_ids((*ids[:i], key, *ids[i:]))
        self._values = (*values[:i], value, *values[i:])

    def setdefault(self, key: int, default: _V) -> _V:
        i = self._find(key)
        if i >= 0:
            return self._values[i]
        self[key] = default
        return default

    def __delitem__(self, key: int) -> None:
        i = self._find(key)
        if i < 0:
            raise KeyError(key)
        ids, values = self._ids, self._values
        self._ids = _shared_ids(ids[:i] + ids[i + 1 :])
        self._values = values[:i] + values[i + 1 :]

    def pop(self, key: int, default: _V | None = None) -> _V | None:
        i = self._find(key)
        if i < 0:
            return default
        value = self._values[i]
        del self[key]
        return value

    def values(self) -> tuple[_V, ...]:
        return self._values

    def items(self) -> Iterator[tuple[int, _V]]:
        return zip(self._ids, self._values, strict=True)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _IdMap):
            return self._ids == other._ids and self._values == other._values
        if isinstance(other, Mapping):
            return dict(self.items()) == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(dict(self.items()))


Resources: TypeAlias = "_IdMap[Stored | dict[int, Stored]]"
"""One instance: resource id -> stored value, or ``{resource instance id: stored}``."""


@dataclass(frozen=True, slots=True)
class _WithoutPath:
    """An instance handler called like a Path-keyed callback (made per call, not kept).

    Always a coroutine function, as the callbacks the objects registered before, so
    that application code wrapping one (``await cb(path, args)``) works for any handler.
    """

    handler: Callable[[Any], Any]

    async def __call__(self, path: Path, arg: Any) -> Any:
        return await call_maybe_async(self.handler, arg)


@dataclass(slots=True)
class _Callbacks:
    validate: dict[Path, ValidateCallback] = field(default_factory=dict)
    post_write: dict[Path, PostWriteCallback] = field(default_factory=dict)
    execute: dict[Path, ExecuteCallback] = field(default_factory=dict)
    create: dict[int, InstanceCallback] = field(default_factory=dict)
    delete: dict[int, InstanceCallback] = field(default_factory=dict)
    #: (object id, resource id) -> a validate callback for that resource in every instance.
    validate_resource: dict[tuple[int, int], ValidateCallback] = field(default_factory=dict)
    #: (object id, instance id) -> the object implementation handling that instance's
    #: resources where the Path-keyed tables have no entry: one entry per instance
    #: rather than a closure and a Path per resource and device.
    instances: dict[tuple[int, int], ResourceHandlers] = field(default_factory=dict)

    def lookup(self, table: dict[Path, Any], path: Path) -> Any:
        """The callback registered for ``path`` or, failing that, for its resource path."""
        cb = table.get(path)
        if cb is None and len(path) == 4:
            cb = table.get(path.parent)
        return cb

    def find(self, kind: HandlerKind, path: Path) -> Callable[[Path, Any], Any] | None:
        """The ``kind`` callback for a resource (instance) path, called ``cb(path, arg)``:
        the Path-keyed one (:meth:`lookup`), else the instance implementation's."""
        cb: Callable[[Path, Any], Any] | None = self.lookup(getattr(self, kind), path)
        if cb is None and len(path) >= 3:
            impl = self.instances.get((path[0], path[1]))
            handler = impl.handler(kind, path[2]) if impl is not None else None
            if handler is not None:
                cb = _WithoutPath(handler)
        return cb


# One pending change: (resource path, new single value or new instance map, or
# _DELETE to drop the resource).
_DELETE = object()


class ObjectStore:
    """Objects, instances and resource values of one client."""

    def __init__(self, registry: Registry | None = None) -> None:
        self.registry = registry if registry is not None else default_registry()
        # object id -> instance id -> resource id -> stored value or {ri: stored}
        self._data: _IdMap[_IdMap[Resources]] = _IdMap()
        # (object id, instance id) -> what a Read of the instance returns: the object
        # definition it was built with, resource nodes in id order, and the resources
        # holding callables (read again each time). Every change to the instance drops it.
        self._snapshots: dict[tuple[int, ...], _Snapshot] = {}
        self.callbacks = _Callbacks()
        self._listeners: list[ChangeListener] = []

    # ------------------------------------------------------------------ defs
    def object_def(self, object_id: int) -> ObjectDef:
        odef = self.registry.get(object_id)
        if odef is None:
            raise NotFound(f"object {object_id} has no definition")
        return odef

    def resource_def(self, path: Path) -> ResourceDef:
        rdef = self.object_def(path[0]).resources.get(path[2])
        if rdef is None:
            raise NotFound(f"{path}: resource {path[2]} is not defined for object {path[0]}")
        return rdef

    # -------------------------------------------------------------- listeners
    def add_listener(self, listener: ChangeListener) -> None:
        self._listeners.append(listener)

    def remove_listener(self, listener: ChangeListener) -> None:
        self._listeners.remove(listener)

    def _changed(self, paths: list[Path]) -> None:
        if paths:
            for listener in list(self._listeners):
                listener(paths)

    # ------------------------------------------------------------ structure
    def add_object(self, object_id: int) -> None:
        """Make an object present (it appears in the Register payload even without instances)."""
        self.object_def(object_id)
        self._object(object_id)

    def _object(self, object_id: int) -> _IdMap[Resources]:
        """The instances of ``object_id``, added when the object is not present yet."""
        obj = self._data.get(object_id)
        if obj is None:
            obj = self._data[object_id] = _IdMap()
        return obj

    def has_object(self, object_id: int) -> bool:
        return object_id in self._data

    def object_ids(self) -> list[int]:
        return list(self._data)  # in id order

    def instance_ids(self, object_id: int) -> list[int]:
        obj = self._data.get(object_id)
        return [] if obj is None else list(obj)  # in id order

    def instance_count(self, object_id: int) -> int:
        return len(self._data.get(object_id, ()))

    def has_instance(self, object_id: int, instance_id: int) -> bool:
        obj = self._data.get(object_id)
        return obj is not None and instance_id in obj

    def resource_ids(self, object_id: int, instance_id: int) -> list[int]:
        return sorted(self._instance(Path(object_id, instance_id)))

    def present_resource_ids(self, object_id: int, instance_id: int) -> list[int]:
        """Resources an instance exposes: those holding values, plus executable resources
        that are mandatory or have an execute callback (they hold no value)."""
        ids = set(self.resource_ids(object_id, instance_id))
        odef = self.registry.get(object_id)
        if odef is not None:
            for rdef in odef.resources.values():
                if rdef.executable and (
                    rdef.mandatory
                    or self.callbacks.find("execute", Path(object_id, instance_id, rdef.id))
                    is not None
                ):
                    ids.add(rdef.id)
        return sorted(ids)

    def exists(self, path: Path) -> bool:
        try:
            self._locate(path)
        except NotFound:
            return False
        return True

    def free_instance_id(self, object_id: int) -> int:
        used = self._data.get(object_id, ())
        iid = 0
        while iid in used:
            iid += 1
        if iid > 65534:
            raise BadRequest(f"object {object_id} has no free instance id")
        return iid

    def _instance(self, path: Path) -> Resources:
        obj = self._data.get(path[0])
        if obj is None:
            raise NotFound(f"object {path[0]} is not present")
        inst = obj.get(path[1])
        if inst is None:
            raise NotFound(f"instance {Path(path[0], path[1])} does not exist")
        return inst

    def _locate(self, path: Path) -> Any:
        """The stored object/instance/resource/value at ``path``, or NotFound."""
        if not path:
            return self._data
        obj = self._data.get(path[0])
        if obj is None:
            raise NotFound(f"object {path[0]} is not present")
        if len(path) == 1:
            return obj
        inst = self._instance(path)
        if len(path) == 2:
            return inst
        if path[2] not in inst:
            raise NotFound(f"resource {path} does not exist")
        res = inst[path[2]]
        if len(path) == 3:
            return res
        if not isinstance(res, dict) or path[3] not in res:
            raise NotFound(f"resource instance {path} does not exist")
        return res[path[3]]

    # ------------------------------------------------------ value checking
    def _check_value(self, rdef: ResourceDef | None, path: Path, value: object) -> Value:
        if rdef is None:
            try:
                guess_type(value)  # type: ignore[arg-type]
            except ModelError as exc:
                raise BadRequest(f"{path}: {exc}") from None
            return value  # type: ignore[return-value]
        try:
            return rdef.check(value, str(path))
        except ModelError as exc:
            raise BadRequest(str(exc)) from None

    def _rdef_or_none(self, path: Path) -> ResourceDef | None:
        return self.registry.resource(path)

    # --------------------------------------------------- application API
    def set(self, path: str | Path, value: object) -> None:
        """Set a resource or resource instance from the application side.

        ``value`` may be a callable (read on demand). For a multiple resource
        path (``/o/i/r``) pass a dict ``{ri: value}`` or a list (instances
        0..n-1) to replace all instances. The instance is created when it does
        not exist yet. Raises ``ModelError`` (a ``ValueError``) naming the path
        when the type or range is wrong.
        """
        p = Path.parse(path)
        if len(p) < 3:
            raise ModelError(f"{p}: set() takes a resource or resource instance path")
        rdef = self._rdef_or_none(p)
        if rdef is None:
            raise ModelError(f"{p}: resource {p[2]} is not defined for object {p[0]}")
        new: Stored | dict[int, Stored]
        if len(p) == 3 and rdef.multiple:
            items = dict(enumerate(value)) if isinstance(value, list | tuple) else value
            if not isinstance(items, dict):
                raise ModelError(f"{p}: a multiple resource takes a dict or a list of values")
            new = _shared_multi(
                _ordered(
                    {int(ri): self._app_value(rdef, p.child(int(ri)), v) for ri, v in items.items()}
                )
            )
        elif len(p) == 3:
            new = self._app_value(rdef, p, value)
        else:
            if not rdef.multiple:
                raise ModelError(f"{p}: resource {p.parent} is single-instance")
            new = self._app_value(rdef, p, value)
        self._dirty(p[0], p[1])
        obj = self._object(p[0])
        inst = obj.get(p[1])
        if inst is None:
            inst = obj[p[1]] = _IdMap()
        old: object
        if len(p) == 3:
            old = inst.get(p[2], _DELETE)
            inst[p[2]] = new
        else:
            res = inst.get(p[2], {})
            assert isinstance(res, dict) and not isinstance(new, dict)
            old = res.get(p[3], _DELETE)
            res = dict(res)  # it may be shared (_shared_multi)
            _put(res, p[3], new)
            inst[p[2]] = _shared_multi(res)
        if old is not new and (callable(new) or old != new):
            self._changed([p])

    def _app_value(self, rdef: ResourceDef, path: Path, value: object) -> Stored:
        if callable(value):
            return value
        return rdef.check(value, str(path))

    def get(self, path: str | Path) -> Any:
        """Current value at a resource (instance) path; a multiple resource gives a dict."""
        p = Path.parse(path)
        if len(p) < 3:
            raise ModelError(f"{p}: get() takes a resource or resource instance path")
        stored = self._locate(p)
        if isinstance(stored, dict):
            return {ri: _resolve(v) for ri, v in sorted(stored.items())}
        return _resolve(stored)

    def delete_resource(self, path: str | Path) -> None:
        """Remove an optional resource or a resource instance (application side)."""
        p = Path.parse(path)
        if len(p) < 3:
            raise ModelError(f"{p}: delete_resource() takes a resource (instance) path")
        self._locate(p)
        inst = self._instance(p)
        self._dirty(p[0], p[1])
        if len(p) == 3:
            del inst[p[2]]
        else:
            res = inst[p[2]]
            assert isinstance(res, dict)
            res = dict(res)  # it may be shared (_shared_multi)
            del res[p[3]]
            inst[p[2]] = _shared_multi(res)
        self._changed([p])

    # -------------------------------------------------------- Read (server)
    def read(self, path: Path, *, check_access: bool = True) -> Node | None:
        """Snapshot of ``path`` as a node; only readable resources are included.

        Root reads are not a single node: use :meth:`read_records`.
        """
        if len(path) == 2:
            return self._read_instance(path)
        if not path:
            raise MethodNotAllowed("read of the root path is not a single node")
        if len(path) >= 3 and check_access:
            rdef = self._rdef_or_none(path)
            if rdef is not None and not rdef.readable:
                self._instance(path)
                raise MethodNotAllowed(f"{path} is not readable")
        found = self._locate(path)
        if len(path) == 1:
            return ObjectNode(
                path[0],
                {iid: self._read_instance(path.child(iid)) for iid in sorted(found)},
            )
        rdef = self._rdef_or_none(path)
        if check_access and rdef is not None and not rdef.readable:
            raise MethodNotAllowed(f"{path} is not readable")
        if len(path) == 4:
            return ResourceNode(path[3], _resolve(found))
        return self._resource_node(path[2], found, rdef)

    def _resource_node(
        self, rid: int, stored: Stored | dict[int, Stored], rdef: ResourceDef | None
    ) -> ResourceNode | MultiResourceNode:
        if isinstance(stored, dict):
            # kept in id order by _put / _ordered
            return MultiResourceNode(
                rid, {ri: v() if callable(v) else v for ri, v in stored.items()}
            )
        if rdef is not None and rdef.multiple:
            return MultiResourceNode(rid, {})
        return ResourceNode(rid, stored() if callable(stored) else stored)

    def _read_instance(self, path: Path) -> InstanceNode:
        inst = self._instance(path)
        odef = self.registry.get(path[0])
        snap = self._snapshots.get(path)  # a Path is equal to the tuple of its ids
        if snap is None or snap[0] is not odef:
            snap = self._snapshot(path, inst, odef)
        resources = snap[1].copy()
        if snap[2]:
            defs = odef.resources if odef is not None else _NO_DEFS
            for rid in snap[2]:  # replaces the entry in place: the id order stays
                resources[rid] = self._resource_node(rid, inst[rid], defs.get(rid))
        return InstanceNode(path[1], resources)

    def _snapshot(
        self,
        path: Path,
        inst: Resources,
        odef: ObjectDef | None,
    ) -> _Snapshot:
        defs = odef.resources if odef is not None else _NO_DEFS
        nodes: dict[int, ResourceNode | MultiResourceNode] = {}
        dynamic: list[int] = []
        for rid, stored in inst.items():  # kept in id order
            rdef = defs.get(rid)
            if rdef is not None and not rdef.readable:
                continue
            if callable(stored) or (
                isinstance(stored, dict) and any(callable(v) for v in stored.values())
            ):
                nodes[rid] = _PENDING  # keeps the place; each read fills it
                dynamic.append(rid)
            else:
                nodes[rid] = self._resource_node(rid, stored, rdef)
        snap = (odef, nodes, tuple(dynamic))
        self._snapshots[path[0], path[1]] = snap
        return snap

    def _dirty(self, object_id: int, instance_id: int) -> None:
        """The instance is about to change: its Read snapshot is no longer valid."""
        self._snapshots.pop((object_id, instance_id), None)

    def read_records(self, paths: list[Path]) -> dict[Path, Value]:
        """Flat values under each path (Read-Composite); missing paths are skipped."""
        from lwm2m.model import to_records

        out: dict[Path, Value] = {}
        for p in paths:
            if not p:
                for oid in self.object_ids():
                    out.update(self.read_records([Path(oid)]))
                continue
            try:
                node = self.read(p)
            except NotFound:
                continue
            if node is not None:
                out.update(to_records(node, p))
        return out

    # ------------------------------------------------------- Write (server)
    def _plan_resource(
        self,
        rpath: Path,
        res: ResourceNode | MultiResourceNode,
        *,
        replace: bool,
        check_access: bool,
        plan: list[tuple[Path, Any]],
        ignore_unknown: bool = False,
    ) -> None:
        rdef = self._rdef_or_none(rpath)
        if rdef is None:
            if ignore_unknown:
                return
            raise NotFound(f"{rpath}: resource is not defined")
        if check_access and not rdef.writable:
            raise MethodNotAllowed(f"{rpath} is not writable")
        if rdef.executable:
            raise MethodNotAllowed(f"{rpath} is executable, not writable")
        if isinstance(res, MultiResourceNode):
            if not rdef.multiple:
                raise BadRequest(f"{rpath} is a single-instance resource")
            values: dict[int, Stored] = {
                ri: self._check_value(rdef, rpath.child(ri), v) for ri, v in res.values.items()
            }
            if not replace:
                current = self._current_multi(rpath)
                current.update(values)
                values = current
            plan.append((rpath, _shared_multi(_ordered(values))))
        else:
            if rdef.multiple:
                raise BadRequest(f"{rpath} is a multiple resource: resource instances expected")
            plan.append((rpath, self._check_value(rdef, rpath, res.value)))

    def _current_multi(self, rpath: Path) -> dict[int, Stored]:
        try:
            stored = self._locate(rpath)
        except NotFound:
            return {}
        return dict(stored) if isinstance(stored, dict) else {}

    def plan_write(
        self,
        path: Path,
        node: Node,
        *,
        replace: bool,
        check_access: bool = True,
        create_missing: bool = False,
        ignore_unknown: bool = False,
    ) -> list[tuple[Path, Any]]:
        """Check a Write and return the list of changes, without applying it.

        ``replace`` selects Replace (PUT) over Partial Update (POST).
        ``check_access`` False is the Bootstrap-Write: read-only resources are
        writable; with ``create_missing`` a missing instance (or resource) is
        created, and with ``ignore_unknown`` resources without a definition in an
        object or instance payload are left out instead of refused.
        """
        plan: list[tuple[Path, Any]] = []
        if len(path) < 2:
            if len(path) == 1 and isinstance(node, ObjectNode) and not check_access:
                for inst in node.instances.values():
                    plan += self.plan_write(
                        path.child(inst.id),
                        inst,
                        replace=replace,
                        check_access=False,
                        create_missing=True,
                        ignore_unknown=ignore_unknown,
                    )
                return plan
            raise MethodNotAllowed(f"write on {path.level_name} level is not allowed")
        if path[0] not in self.registry:
            raise NotFound(f"object {path[0]} has no definition")
        if not create_missing:
            self._instance(path)
        if len(path) == 2:
            if not isinstance(node, InstanceNode):
                raise BadRequest(f"{path}: the payload is not an object instance")
            if node.id != path[1]:
                raise BadRequest(f"{path}: payload instance {node.id} does not match the path")
            # Partial Update adds or updates resource instances and leaves the
            # others (Core TS 1.1 6.3.3); Replace replaces each resource as a whole.
            for res in node.resources.values():
                self._plan_resource(
                    path.child(res.id),
                    res,
                    replace=replace,
                    check_access=check_access,
                    plan=plan,
                    ignore_unknown=ignore_unknown,
                )
            if replace and check_access and self.has_instance(path[0], path[1]):
                # Replace on an instance (Core TS 6.3.3): writable optional resources
                # absent from the payload are removed.
                odef = self.object_def(path[0])
                for rid in self.resource_ids(path[0], path[1]):
                    rdef = odef.resources.get(rid)
                    if (
                        rid not in node.resources
                        and rdef is not None
                        and rdef.writable
                        and not rdef.mandatory
                    ):
                        plan.append((path.child(rid), _DELETE))
            return plan
        if len(path) == 3:
            if not isinstance(node, ResourceNode | MultiResourceNode) or node.id != path[2]:
                raise BadRequest(f"{path}: the payload is not resource {path[2]}")
            self._plan_resource(path, node, replace=replace, check_access=check_access, plan=plan)
            return plan
        # resource instance (LwM2M 1.1)
        if not isinstance(node, ResourceNode) or node.id != path[3]:
            raise BadRequest(f"{path}: the payload is not resource instance {path[3]}")
        rdef = self._rdef_or_none(path)
        if rdef is None or not rdef.multiple:
            raise MethodNotAllowed(f"{path.parent} is not a multiple resource")
        if not create_missing:
            self._instance(path)
        if check_access and not rdef.writable:
            raise MethodNotAllowed(f"{path.parent} is not writable")
        multi = MultiResourceNode(path[2], {path[3]: node.value})
        self._plan_resource(path.parent, multi, replace=False, check_access=check_access, plan=plan)
        return plan

    async def validate_plan(self, plan: list[tuple[Path, Any]]) -> None:
        """Run the application's validate callbacks on every planned value (may reject: 4.00)."""
        for rpath, new in plan:
            if new is _DELETE:
                continue
            items = new.items() if isinstance(new, dict) else [(None, new)]
            generic = self.callbacks.validate_resource.get((rpath[0], rpath[2]))
            for ri, value in items:
                vpath = rpath if ri is None else rpath.child(ri)
                cb = self.callbacks.find("validate", vpath)
                for check in (generic, cb):
                    if check is None:
                        continue
                    ok = await call_maybe_async(check, vpath, _resolve(value))
                    if ok is False:
                        raise BadRequest(f"{vpath}: value {_resolve(value)!r} rejected")

    async def apply_plan(self, plan: list[tuple[Path, Any]]) -> list[Path]:
        """Apply a checked plan, run post-write callbacks, notify listeners; return changes."""
        changed: list[Path] = []
        for rpath, new in plan:
            self._dirty(rpath[0], rpath[1])
            obj = self._object(rpath[0])
            inst = obj.get(rpath[1])
            if inst is None:  # created by a Bootstrap-Write
                inst = obj[rpath[1]] = _IdMap()
                changed.append(Path(rpath[0], rpath[1]))
            if new is _DELETE:
                if inst.pop(rpath[2], None) is not None:
                    changed.append(rpath)
                continue
            old = inst.get(rpath[2], _DELETE)
            inst[rpath[2]] = new
            if old != new or callable(old):
                changed.append(rpath)
        for rpath, new in plan:
            if new is _DELETE:
                continue
            cb = self.callbacks.find("post_write", rpath)
            if cb is not None:
                await call_maybe_async(cb, rpath, self.get(rpath))
            elif isinstance(new, dict):
                for ri in new:
                    cb = self.callbacks.post_write.get(rpath.child(ri))
                    if cb is not None:
                        await call_maybe_async(cb, rpath.child(ri), _resolve(new[ri]))
        self._changed(changed)
        return changed

    async def write(
        self, path: Path, node: Node, *, replace: bool, check_access: bool = True
    ) -> list[Path]:
        """Server Write (Replace or Partial Update): validate everything, then apply."""
        plan = self.plan_write(path, node, replace=replace, check_access=check_access)
        await self.validate_plan(plan)
        return await self.apply_plan(plan)

    # ---------------------------------------------------- Create / Delete
    async def create(
        self, object_id: int, node: InstanceNode | None, *, check_access: bool = True
    ) -> int:
        """Create an object instance (Core TS 6.3.6); return its id.

        A payload without instance id (``node is None`` or ``node.id`` of -1)
        gets the lowest free id. Mandatory writable resources must be given.
        """
        odef = self.object_def(object_id)
        existing = self._data.get(object_id, ())
        iid = node.id if node is not None and node.id >= 0 else self.free_instance_id(object_id)
        if iid in existing:
            raise BadRequest(f"instance /{object_id}/{iid} already exists")
        if not odef.multiple and existing:
            # "Target is not allowed for Create" (Core TS 1.1 6.3.6 / ETS 680).
            raise MethodNotAllowed(f"object {object_id} is single-instance and has an instance")
        resources = node.resources if node is not None else {}
        plan: list[tuple[Path, Any]] = []
        ipath = Path(object_id, iid)
        # Create sets initial values, read-only resources included (Core TS 6.3.6).
        for res in resources.values():
            self._plan_resource(
                ipath.child(res.id), res, replace=True, check_access=False, plan=plan
            )
        if check_access:
            missing = [
                r.id for r in odef.mandatory_resources if not r.executable and r.id not in resources
            ]
            if missing:
                raise BadRequest(f"create {ipath}: mandatory resources {missing} missing")
        await self.validate_plan(plan)
        self._dirty(object_id, iid)
        self._object(object_id)[iid] = _IdMap()
        await self.apply_plan(plan)
        cb = self.callbacks.create.get(object_id)
        if cb is not None:
            await call_maybe_async(cb, ipath)
        self._changed([ipath])
        return iid

    def create_instance(self, object_id: int, instance_id: int | None = None) -> int:
        """Application side: add an empty instance (resources are then ``set``)."""
        self.object_def(object_id)
        obj = self._object(object_id)
        iid = self.free_instance_id(object_id) if instance_id is None else instance_id
        Path(object_id, iid)  # range check
        if iid in obj:
            raise ModelError(f"instance /{object_id}/{iid} already exists")
        self._dirty(object_id, iid)
        obj[iid] = _IdMap()
        self._changed([Path(object_id, iid)])
        return iid

    async def delete(self, path: Path) -> None:
        """Delete an object instance (server side, Core TS 6.3.7), or every instance of /o."""
        if len(path) == 2:
            self._instance(path)
            self._dirty(path[0], path[1])
            del self._data[path[0]][path[1]]
            cb = self.callbacks.delete.get(path[0])
            if cb is not None:
                await call_maybe_async(cb, path)
            self._changed([path])
            return
        if len(path) == 1:
            for iid in self.instance_ids(path[0]):
                await self.delete(path.child(iid))
            return
        if len(path) == 0:
            for oid in self.object_ids():
                await self.delete(Path(oid))
            return
        raise MethodNotAllowed(f"delete is not allowed on a {path.level_name}")

    def delete_instance(self, object_id: int, instance_id: int) -> None:
        """Application side: remove an instance without callbacks."""
        self._instance(Path(object_id, instance_id))
        self._dirty(object_id, instance_id)
        del self._data[object_id][instance_id]
        self._changed([Path(object_id, instance_id)])

    # -------------------------------------------------------------- Execute
    async def execute(self, path: Path, args: str = "", *, check_access: bool = True) -> None:
        """Execute a resource (Core TS 6.3.5): the callback gets the path and argument string."""
        if len(path) != 3:
            raise MethodNotAllowed(f"execute is only allowed on a resource, not {path}")
        self._instance(path)
        rdef = self.resource_def(path)
        if check_access and not rdef.executable:
            raise MethodNotAllowed(f"{path} is not executable")
        cb = self.callbacks.find("execute", path)
        if cb is not None:
            await call_maybe_async(cb, path, args)

    # ------------------------------------------------------- registration
    def object_links(self) -> list[Path]:
        """Object and instance paths present, for the Register/Update payload."""
        links: list[Path] = []
        for oid in self.object_ids():
            iids = self.instance_ids(oid)
            if not iids:
                links.append(Path(oid))
            links.extend(Path(oid, iid) for iid in iids)
        return links

    def type_of(self, path: Path) -> ResourceType | None:
        rdef = self._rdef_or_none(path)
        return rdef.type if rdef is not None else None
