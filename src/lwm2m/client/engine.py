"""The client engine: device-management operations on the object store.

Theory of operation
-------------------
A request from a server arrives as a CoAP :class:`~lwm2m.coap.message.Message`
together with the :class:`ServerContext` of the server that sent it. The
engine maps method, path, options and payload to an LwM2M operation (Core TS
1.1 section 6.3 / 8.x, "Device Management and Service Enablement Interface"):

=========================  ===============================================
CoAP request               operation
=========================  ===============================================
GET, Accept != 40          Read (Observe option: handled by the observer)
GET, Accept 40             Discover
PUT with payload           Write, Replace
PUT without payload        Write-Attributes (Uri-Query)
POST /o                    Create
POST /o/i, /o/i/r + body   Write, Partial Update
POST /o/i/r, executable    Execute (payload: arguments)
DELETE /o/i                Delete
FETCH /                    Read-Composite (SenML body of paths)
iPATCH /                   Write-Composite
=========================  ===============================================

Every failure is an :class:`~lwm2m.errors.OperationError` whose ``code``
becomes the response; the store is never left half-written.

Each server is answered in the LwM2M version it registered with
(:attr:`ServerContext.lwm2m_version`, set by the client after a version
fall-back): default content formats, Discover depth rules and the object
versions (``ver``) follow it. The Bootstrap-Server gets the bootstrap
interface only (Core TS 1.1 5.2.7, 6.1.7): Read, Write, Delete, Discover and
Finish; a Create or an Execute from it is 4.05. Its Write creates what it
targets, instance or resource, when missing, and ignores optional resources
the client does not know; a configuration with two Bootstrap-Server Security
instances is refused with 4.00.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from lwm2m import formats
from lwm2m.client.access_control import ACCESS_CONTROL_OBJECT, AccessControl, Right
from lwm2m.client.attributes import AttributeStore, AttributeUpdate, format_attribute
from lwm2m.client.store import ObjectStore
from lwm2m.client.versions import declared_version
from lwm2m.coap.message import Message, Option, encode_uint
from lwm2m.coap.numbers import Code, ContentFormat, OptionNumber
from lwm2m.errors import (
    BadRequest,
    DecodeError,
    MethodNotAllowed,
    ModelError,
    NotAcceptable,
    NotFound,
    OperationError,
    Unauthorized,
    UnsupportedContentFormat,
    UnsupportedFormat,
)
from lwm2m.formats import link as linkfmt
from lwm2m.formats import negotiation, senml_cbor, senml_json
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    Node,
    ObjectNode,
    Path,
    Records,
    ResourceType,
    from_records,
    to_records,
)

log = logging.getLogger(__name__)

#: Objects a management server may never touch (Core TS 1.1 6.3: Security, OSCORE).
BOOTSTRAP_ONLY_OBJECTS = frozenset({0, 21})
#: Content formats that carry a composite answer (Core TS 1.1 6.3.9).
COMPOSITE_FORMATS = frozenset(
    {ContentFormat.SENML_JSON, ContentFormat.SENML_CBOR, ContentFormat.LWM2M_CBOR}
)
#: Entries kept in each per-engine lookup cache (request paths, negotiated formats);
#: a full cache is emptied, which bounds memory against a peer sending many paths.
_CACHE_SIZE = 256
#: Resource types the change conditions gt, lt and st apply to (Core TS 1.1 5.1.2:
#: "numerical" resources).
NUMERIC_TYPES = frozenset(
    {ResourceType.INTEGER, ResourceType.UNSIGNED_INTEGER, ResourceType.FLOAT, ResourceType.TIME}
)
_CHANGE_CONDITIONS = ("gt", "lt", "st")
#: Security object resources: Bootstrap-Server flag (/0/x/1).
_SEC_IS_BOOTSTRAP = 1


@dataclass(slots=True)
class ServerContext:
    """The server a request comes from, with the attributes it attached.

    ``lwm2m_version``: the version the client registered with at this server
    (None: the client's own).
    """

    short_id: int
    is_bootstrap: bool = False
    attributes: AttributeStore = field(default_factory=AttributeStore)
    lwm2m_version: str | None = None


class Engine:
    """Answers device-management requests from the servers of one client."""

    def __init__(self, store: ObjectStore, *, lwm2m_version: str = "1.1") -> None:
        self.store = store
        self.lwm2m_version = lwm2m_version
        self.access = AccessControl(store)
        # Uri-Path segments -> Path, so a repeated request path is parsed once.
        self._paths: dict[tuple[str, ...], Path] = {}
        # (Accept, version, path level, node type) -> answer format, for reads whose
        # format does not depend on the value (objects and instances).
        self._formats: dict[tuple[int | None, str, int, type], int] = {}

    # ------------------------------------------------------------ dispatch
    async def handle(self, request: Message, server: ServerContext) -> Message:
        """Answer one request; never raises for a bad request."""
        try:
            if request.code == Code.GET:
                # Read and Discover are synchronous: no second coroutine on the hot path.
                return self._get(request, self._target(request, server), server)
            return await self._dispatch(request, server)
        except OperationError as exc:
            log.info("%s %s -> %s: %s", _method(request), request.path_string, exc.code, exc)
            return _error(request, exc.code, str(exc))
        except (DecodeError, ModelError) as exc:
            log.info("%s %s -> 4.00: %s", _method(request), request.path_string, exc)
            return _error(request, Code.BAD_REQUEST, str(exc))

    def _path(self, segments: tuple[str, ...]) -> Path:
        """The LwM2M path of the request's Uri-Path (4.04 when it is not one)."""
        path = self._paths.get(segments)
        if path is None:
            try:
                path = Path.from_segments(segments)
            except ModelError as exc:
                raise NotFound(str(exc)) from None
            if len(self._paths) >= _CACHE_SIZE:
                self._paths.clear()
            self._paths[segments] = path
        return path

    def _target(self, req: Message, server: ServerContext) -> Path:
        """The request path, which a management server may not take into object 0 or 21."""
        path = self._path(req.uri_path)
        if path and path[0] in BOOTSTRAP_ONLY_OBJECTS and not server.is_bootstrap:
            raise Unauthorized(f"object {path[0]} is not accessible to a management server")
        return path

    def _get(self, req: Message, path: Path, server: ServerContext) -> Message:
        # Discover and Observe follow the Read right (Core TS 1.1 7.3).
        self.authorize(server, path, Right.READ)
        accept = req.accept
        if accept == ContentFormat.LINK_FORMAT:
            return self.discover(req, path, server)
        return self._read(req, accept, path, server)

    def version(self, server: ServerContext) -> str:
        """The LwM2M version ``server`` is answered in."""
        return server.lwm2m_version or self.lwm2m_version

    async def _dispatch(self, req: Message, server: ServerContext) -> Message:
        path = self._target(req, server)
        code = req.code
        if server.is_bootstrap and code not in (Code.GET, Code.PUT, Code.DELETE):
            # The bootstrap interface has no Create, Execute or composite operation
            # (Core TS 1.1 6.1.7); Bootstrap-Finish (POST /bs) never reaches the engine.
            raise MethodNotAllowed(f"{_method(req)} is not a bootstrap operation")
        if code == Code.GET:
            return self._get(req, path, server)
        if code == Code.PUT:
            if not req.payload and req.content_format is None:
                if req.uri_query:
                    self.authorize(server, path, Right.READ)
                    return self.write_attributes(req, path, server)
                # Nothing to write. A peer sends such a request (with Block2 0) to fetch
                # the diagnostic of our error answer to its Block1 Write: it is answered
                # as the fresh request it is, and the failed Write is not run again.
                raise BadRequest("nothing to write")
            self.authorize(server, path, Right.WRITE)
            return await self.write(req, path, replace=True, server=server)
        if code == Code.POST:
            return await self._post(req, path, server)
        if code == Code.DELETE:
            self.authorize(server, path, Right.DELETE)
            return await self.delete(req, path, server)
        if code == Code.FETCH:
            return self.read_composite(req, path, server)
        if code == Code.IPATCH:
            return await self.write_composite(req, path, server)
        raise MethodNotAllowed(f"method {_method(req)} is not supported")

    async def _post(self, req: Message, path: Path, server: ServerContext) -> Message:
        if len(path) == 1:
            self.authorize(server, path, Right.CREATE)
            return await self.create(req, path, server)
        if len(path) == 3:
            rdef = self.store.resource_def(path)
            if rdef.executable:
                self.authorize(server, path, Right.EXECUTE)
                return await self.execute(req, path)
            if not req.payload:
                raise MethodNotAllowed(f"{path} is not executable")
        if len(path) in (2, 3) or (len(path) == 4 and req.payload):
            self.authorize(server, path, Right.WRITE)
            return await self.write(req, path, replace=False, server=server)
        raise MethodNotAllowed(f"POST is not allowed on {path}")

    # ------------------------------------------------------ access control
    def _controlled(self, server: ServerContext) -> bool:
        return not server.is_bootstrap and self.access.enforced

    def authorize(self, server: ServerContext, path: Path, right: Right) -> None:
        """4.01 unless ``server`` holds ``right`` on the instance of ``path`` (or, for
        CREATE, on its object). Object-level reads are filtered instead, and a
        missing instance is left to the operation (4.04)."""
        if not self._controlled(server) or not path:
            return
        if right is Right.CREATE or (len(path) >= 2 and self.store.has_instance(path[0], path[1])):
            self.access.check(server.short_id, path, right)

    def _readable_instances(self, server: ServerContext, object_id: int) -> list[int]:
        if not self._controlled(server):
            return self.store.instance_ids(object_id)
        return self.access.readable_instances(server.short_id, object_id)

    # --------------------------------------------------------------- Read
    def response_format(
        self,
        req: Message,
        path: Path,
        node: Node | Records,
        server: ServerContext | None = None,
    ) -> int:
        """Pick the response content format for ``node`` (Accept or the version default)."""
        version = self.lwm2m_version if server is None else self.version(server)
        return self._format(req.accept, path, node, version)

    def _format(self, accept: int | None, path: Path, node: Node | Records, version: str) -> int:
        if len(path) < 3:
            # Objects and instances: the answer depends on the node kind, not its values.
            key = (accept, version, len(path), type(node))
            fmt = self._formats.get(key)
            if fmt is None:
                fmt = self._negotiate(accept, path, node, version)
                if len(self._formats) >= _CACHE_SIZE:
                    self._formats.clear()
                self._formats[key] = fmt
            return fmt
        return self._negotiate(accept, path, node, version)

    def _negotiate(self, accept: int | None, path: Path, node: Node | Records, version: str) -> int:
        single: ResourceType | None = None
        if len(path) == 4 or (len(path) == 3 and not isinstance(node, MultiResourceNode)):
            single = self.store.type_of(path)
        try:
            fmt = negotiation.choose_format(accept, path, version, single)
        except UnsupportedFormat as exc:
            raise NotAcceptable(str(exc)) from None
        if not negotiation.supports(fmt, path, node):
            raise NotAcceptable(f"content format {fmt} cannot carry {path}")
        return fmt

    def encode(
        self,
        req: Message,
        path: Path,
        node: Node | Records,
        server: ServerContext | None = None,
    ) -> tuple[int, bytes]:
        version = self.lwm2m_version if server is None else self.version(server)
        return self._encode(req.accept, path, node, version)

    def _encode(
        self, accept: int | None, path: Path, node: Node | Records, version: str
    ) -> tuple[int, bytes]:
        fmt = self._format(accept, path, node, version)
        try:
            return fmt, formats.encode(fmt, node, path, self.store.registry)
        except UnsupportedFormat as exc:
            raise NotAcceptable(str(exc)) from None

    def read(self, req: Message, path: Path, server: ServerContext) -> Message:
        return self._read(req, req.accept, path, server)

    def _read(self, req: Message, accept: int | None, path: Path, server: ServerContext) -> Message:
        if not path:
            raise MethodNotAllowed("Read on the root path needs Read-Composite (FETCH)")
        node = self._read_node(path, server)
        if accept == ContentFormat.LWM2M_JSON_OLD:
            # OMA JSON under its pre-1.0 number, as older servers ask for it: the same
            # encoding, labelled with the number the server asked for.
            _, payload = self._encode(ContentFormat.LWM2M_JSON, path, node, self.version(server))
            return Message.response_to(
                req, Code.CONTENT, payload, options=(_content_format(accept),)
            )
        fmt, payload = self._encode(accept, path, node, self.version(server))
        return Message.response_to(req, Code.CONTENT, payload, options=(_content_format(fmt),))

    # --------------------------------------------------------------- Write
    def decode(self, req: Message, path: Path) -> Node | Records:
        fmt = req.content_format
        if fmt is None:
            if len(path) < 3:
                raise BadRequest("a Write on an instance needs a Content-Format")
            fmt = ContentFormat.TEXT_PLAIN
        if fmt not in formats.DECODE_FORMATS or fmt == ContentFormat.LINK_FORMAT:
            raise UnsupportedContentFormat(f"content format {fmt} is not supported")
        try:
            return formats.decode(fmt, req.payload, path, self.store.registry)
        except UnsupportedFormat as exc:
            raise UnsupportedContentFormat(str(exc)) from None

    async def write(
        self, req: Message, path: Path, *, replace: bool, server: ServerContext
    ) -> Message:
        if len(path) < 2 and not server.is_bootstrap:
            raise MethodNotAllowed(f"Write on a {path.level_name} is not allowed")
        if not server.is_bootstrap and not self.store.exists(Path(*path[:2])):
            raise NotFound(f"{Path(*path[:2])} does not exist")
        if not server.is_bootstrap and len(path) >= 3:
            # The target decides before the payload is looked at: 4.04, then 4.05.
            rdef = self.store.resource_def(path)
            if not rdef.writable:
                raise MethodNotAllowed(f"{path} is not writable")
        node = self.decode(req, path)
        if isinstance(node, dict):
            raise BadRequest("a composite payload needs Write-Composite (iPATCH)")
        if server.is_bootstrap:
            # Bootstrap-Write (Core TS 1.1 5.2.7.4): written "regardless of the existence
            # of the targeted Object Instance(s) or Resource(s)"; optional resources the
            # client does not support are ignored.
            plan = self.store.plan_write(
                path,
                node,
                replace=replace,
                check_access=False,
                create_missing=True,
                ignore_unknown=len(path) < 3,
            )
            self._check_single_bootstrap_account(plan)
            await self.store.validate_plan(plan)
            await self.store.apply_plan(plan)
        else:
            await self.store.write(path, node, replace=replace)
        return Message.response_to(req, Code.CHANGED)

    def _check_single_bootstrap_account(self, plan: list[tuple[Path, object]]) -> None:
        """4.00 when the write would leave two Bootstrap-Server Security instances (E.1)."""
        flags: dict[int, object] = {}
        for iid in self.store.instance_ids(0):
            try:
                flags[iid] = self.store.get(Path(0, iid, _SEC_IS_BOOTSTRAP))
            except (NotFound, ModelError):
                flags[iid] = False
        touched = False
        for rpath, value in plan:
            if rpath[0] == 0 and len(rpath) >= 3 and rpath[2] == _SEC_IS_BOOTSTRAP:
                flags[rpath[1]] = value
                touched = True
        accounts = sorted(iid for iid, flag in flags.items() if flag is True)
        if touched and len(accounts) > 1:
            listed = ", ".join(f"/0/{iid}" for iid in accounts)
            raise BadRequest(f"only one Bootstrap-Server account is allowed, not {listed}")

    # ------------------------------------------------------------ Execute
    async def execute(self, req: Message, path: Path) -> Message:
        try:
            args = req.payload.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest("execute arguments are not UTF-8") from None
        from lwm2m.client.execute import parse_execute_args

        parse_execute_args(args)  # 4.00 on bad syntax (Core TS 1.0.2 5.4.5)
        await self.store.execute(path, args)
        return Message.response_to(req, Code.CHANGED)

    # ------------------------------------------------------ Create / Delete
    async def create(self, req: Message, path: Path, server: ServerContext) -> Message:
        self.store.object_def(path[0])
        node: InstanceNode | None = None
        if req.payload:
            decoded = self._decode_create(req, path)
            if isinstance(decoded, dict):
                raise BadRequest("a composite payload cannot create an instance")
            if isinstance(decoded, ObjectNode):
                if len(decoded.instances) != 1:
                    raise BadRequest("Create takes exactly one object instance")
                node = next(iter(decoded.instances.values()))
            elif isinstance(decoded, InstanceNode):
                node = decoded
            else:
                raise BadRequest("the Create payload is not an object instance")
        iid = await self.store.create(path[0], node, check_access=not server.is_bootstrap)
        if self._controlled(server):
            self.access.instance_created(server.short_id, path[0], iid)
        resp = Message.response_to(req, Code.CREATED)
        resp.location_path = (str(path[0]), str(iid))
        return resp

    def _decode_create(self, req: Message, path: Path) -> Node | Records:
        """A Create payload: one object instance, or bare resources (the client then picks
        the instance id, Core TS 1.0.2 5.4.6). TLV says which by its first entry's kind;
        other formats are read as an instance first. An error in the values is reported
        as such, not hidden by a second reading."""
        if req.content_format == ContentFormat.LWM2M_TLV and req.payload:
            if req.payload[0] & 0xC0 == 0x00:  # an Object Instance entry
                return self.decode(req, path)
            return self._decode_bare(req, path)
        try:
            return self.decode(req, path)
        except DecodeError as first:
            try:
                return self._decode_bare(req, path)
            except DecodeError:
                raise first from None

    def _decode_bare(self, req: Message, path: Path) -> Node | Records:
        iid = self.store.free_instance_id(path[0])
        decoded = self.decode(req, path.child(iid))
        if isinstance(decoded, InstanceNode):
            decoded.id = iid
        return decoded

    async def delete(self, req: Message, path: Path, server: ServerContext) -> Message:
        if not server.is_bootstrap and len(path) != 2:
            raise MethodNotAllowed("Delete is only allowed on an object instance")
        if not server.is_bootstrap and path[0] == 1:
            raise MethodNotAllowed("a server cannot delete its own Server instance")
        odef = None if server.is_bootstrap else self.store.object_def(path[0])
        if odef is not None and odef.mandatory and not odef.multiple:
            # The instance of a mandatory single-instance object always exists (ETS 685).
            raise MethodNotAllowed(f"the instance of object {path[0]} cannot be deleted")
        if server.is_bootstrap:
            await self._bootstrap_delete(path)
        else:
            await self.store.delete(path)
        server.attributes.drop_below(path)
        if len(path) == 2 and path[0] != ACCESS_CONTROL_OBJECT:
            self.access.instance_deleted(path[0], path[1])
        return Message.response_to(req, Code.DELETED)

    async def _bootstrap_delete(self, path: Path) -> None:
        """Bootstrap-Delete (Core TS 1.1 6.1.7.5): "/" or "/o" removes every instance except
        the Bootstrap-Server account (/0/x with /0/x/1 true) and the Device object."""
        if len(path) >= 3:
            raise MethodNotAllowed("Bootstrap-Delete targets the root, an object or an instance")
        if len(path) == 2:
            if path[0] == 3 or self._is_bootstrap_account(path):
                raise BadRequest(f"{path} cannot be deleted by Bootstrap-Delete")
            await self.store.delete(path)
            return
        objects = [path[0]] if path else self.store.object_ids()
        for oid in objects:
            if oid == 3:
                continue
            for iid in self.store.instance_ids(oid):
                ipath = Path(oid, iid)
                if not self._is_bootstrap_account(ipath):
                    await self.store.delete(ipath)

    def _is_bootstrap_account(self, ipath: Path) -> bool:
        if ipath[0] != 0:
            return False
        try:
            return self.store.get(ipath.child(1)) is True
        except (NotFound, ModelError):
            return False

    # ------------------------------------------------ Discover / attributes
    def discover(self, req: Message, path: Path, server: ServerContext) -> Message:
        """Discover (Core TS 1.0 5.4.2, 1.1 6.3.2 / 5.4.2).

        The target link carries the attributes attached to it; a resource or
        resource instance target also those it inherits from its instance and
        object. Below the target, LwM2M 1.1 lists each link with its own
        attributes down to ``?depth=`` (default: 2 for an object, 1 otherwise;
        resource instances appear at depth 1 below a resource); LwM2M 1.0 lists
        instances and resources, with attributes and ``dim`` only when the
        target is an instance. Server-object defaults are not attributes.
        """
        if server.is_bootstrap:
            return self.bootstrap_discover(req, path)
        if not path:
            raise MethodNotAllowed("Discover needs an object, instance or resource path")
        self.store._locate(path)
        version = self.version(server)
        v10 = version == "1.0"
        depth = _discover_depth(req.uri_query, path, v10)
        attrs = server.attributes
        links: list[linkfmt.Link] = []
        target_level = len(path)

        def add(p: Path, params: dict[str, str | None]) -> None:
            if len(p) == target_level:
                found = attrs.effective(p) if len(p) >= 3 else attrs.get(p)
            elif v10 and target_level == 1:
                found = {}
            else:
                found = attrs.get(p)
            for name, value in found.items():
                params[name] = format_attribute(value, name)
            links.append(linkfmt.Link(str(p), params))

        def walk(p: Path) -> None:
            params: dict[str, str | None] = {}
            if len(p) == 1:
                ver = declared_version(self.store.registry, p[0], version)
                if ver is not None:
                    params["ver"] = ver
            elif len(p) == 3:
                stored = self.store._locate(p) if self.store.exists(p) else None
                rdef = self.store.registry.resource(p)
                multiple = isinstance(stored, dict) or (rdef is not None and rdef.multiple)
                if multiple and not (v10 and target_level == 1):
                    params["dim"] = str(len(stored) if isinstance(stored, dict) else 0)
            add(p, params)
            if len(p) - target_level >= depth:
                return
            if len(p) == 1:
                children = [p.child(i) for i in self._readable_instances(server, p[0])]
            elif len(p) == 2:
                children = [p.child(r) for r in self.store.present_resource_ids(p[0], p[1])]
            elif len(p) == 3 and self.store.exists(p):
                stored = self.store._locate(p)
                children = (
                    [p.child(ri) for ri in sorted(stored)] if isinstance(stored, dict) else []
                )
            else:
                children = []
            for child in children:
                walk(child)

        walk(path)
        payload = linkfmt.format_links(links).encode()
        return Message.response_to(
            req, Code.CONTENT, payload, content_format=ContentFormat.LINK_FORMAT
        )

    def bootstrap_discover(self, req: Message, path: Path) -> Message:
        """Bootstrap-Discover on ``/`` or ``/o`` (Core TS 1.1 5.2.7.3): instances (or bare
        objects), ``ver`` of versioned objects, ``ssid`` of server accounts; the root
        answer starts with the client's ``lwm2m`` version."""
        if len(path) > 1:
            raise BadRequest("Bootstrap-Discover targets the root or an object")
        if path:
            self.store.object_def(path[0])
        links: list[linkfmt.Link] = []
        version = self.lwm2m_version
        for oid in [path[0]] if path else self.store.object_ids():
            ver = declared_version(self.store.registry, oid, version)
            iids = self.store.instance_ids(oid)
            if ver is not None:
                links.append(linkfmt.Link(f"/{oid}", {"ver": ver}))
            elif not iids:
                links.append(linkfmt.Link(f"/{oid}", {}))
            for iid in iids:
                links.append(linkfmt.Link(f"/{oid}/{iid}", self._account_params(oid, iid)))
        text = linkfmt.format_links(links)
        if not path:
            text = f'lwm2m="{version}",' + text if links else f'lwm2m="{version}"'

        return Message.response_to(
            req, Code.CONTENT, text.encode(), content_format=ContentFormat.LINK_FORMAT
        )

    def _account_params(self, oid: int, iid: int) -> dict[str, str | None]:
        """``ssid`` of a Server instance, or of a Security instance of a server account."""
        rid = {0: 10, 1: 0}.get(oid)
        if rid is None:
            return {}
        try:
            if oid == 0 and self.store.get(Path(0, iid, 1)) is True:
                return {}  # the Bootstrap-Server account has no Short Server ID
            ssid = self.store.get(Path(oid, iid, rid))
        except (NotFound, ModelError):
            return {}
        return {"ssid": str(ssid)} if isinstance(ssid, int) else {}

    def write_attributes(self, req: Message, path: Path, server: ServerContext) -> Message:
        update = AttributeUpdate.parse(req.uri_query, path)
        rdef = self.store.registry.resource(path) if len(path) >= 3 else None
        if rdef is not None and rdef.executable and len(path) == 3:
            # Listed by Discover, but it holds no value: nothing to observe (Core TS 5.1.2).
            self.store._instance(path)
            raise MethodNotAllowed(f"{path} is executable: notification attributes do not apply")
        self.store._locate(path)
        conditions = [n for n in _CHANGE_CONDITIONS if n in update.values]
        if conditions and rdef is not None and rdef.type not in NUMERIC_TYPES:
            # Core TS 1.1 5.1.2: gt, lt and st apply to numerical resources only.
            raise BadRequest(
                f"{'/'.join(conditions)} only apply to numeric resources; "
                f"{path} is {rdef.type.value}"
            )
        server.attributes.apply(path, update)
        return Message.response_to(req, Code.CHANGED)

    # ---------------------------------------------------------- composite
    def composite_paths(self, req: Message) -> list[Path]:
        """The paths of a Read-Composite / Observe-Composite body (SenML JSON or CBOR).

        Names are resolved as SenML does (base name + name); ``/`` is the root
        path (Core TS 1.1 6.3.9 / 6.4.3).
        """
        fmt = req.content_format
        if fmt == ContentFormat.SENML_JSON:
            items = senml_json.load_json(req.payload, "SenML JSON")
            keys: tuple[object, object] = ("bn", "n")
        elif fmt == ContentFormat.SENML_CBOR:
            items = senml_cbor.load_cbor(req.payload, "SenML CBOR")
            keys = (-2, 0)
        else:
            raise UnsupportedContentFormat(f"composite requests need SenML, not {fmt}")
        if not isinstance(items, list):
            raise BadRequest("a composite body is an array of records")
        paths: list[Path] = []
        base = ""
        for idx, rec in enumerate(items):
            if not isinstance(rec, dict):
                raise BadRequest(f"composite record {idx} is not a map")
            bn, n = rec.get(keys[0], base), rec.get(keys[1], "")
            if not isinstance(bn, str) or not isinstance(n, str):
                raise BadRequest(f"composite record {idx}: names must be text")
            base = bn
            try:
                paths.append(Path.parse(bn + n))
            except ModelError as exc:
                raise BadRequest(f"composite record {idx}: {exc}") from None
        return paths

    def read_composite(self, req: Message, path: Path, server: ServerContext) -> Message:
        if path:
            raise MethodNotAllowed("Read-Composite is addressed to the root path")
        paths = self.composite_paths(req)  # 4.15 for a body that is not SenML
        accept = req.accept if req.accept is not None else req.content_format
        fmt = accept if accept is not None else ContentFormat.SENML_CBOR
        if fmt not in COMPOSITE_FORMATS:
            raise NotAcceptable(f"content format {fmt} cannot carry a composite answer")
        records = self.read_values(paths, server)
        payload = formats.encode(fmt, records, path, self.store.registry)
        return Message.response_to(req, Code.CONTENT, payload, content_format=fmt)

    def _read_node(self, path: Path, server: ServerContext) -> Node:
        """Read ``path``; an object shows only the instances ``server`` may read."""
        node = self.store.read(path)
        assert node is not None
        if isinstance(node, ObjectNode) and self._controlled(server):
            keep = set(self._readable_instances(server, path[0]))
            node.instances = {i: n for i, n in node.instances.items() if i in keep}
        return node

    def read_values(self, paths: list[Path], server: ServerContext) -> Records:
        """Values under each path; absent or unreadable paths are left out (Core TS 1.1
        6.3.9: a partially successful Read-Composite). 4.04 when none is present."""
        records: Records = {}
        found = not paths
        for p in _expand_root(paths, self.store.object_ids()):
            if p[0] in BOOTSTRAP_ONLY_OBJECTS:
                raise Unauthorized(f"{p} is not accessible to a management server")
            try:
                self.authorize(server, p, Right.READ)
                node = self._read_node(p, server)
            except (NotFound, MethodNotAllowed, Unauthorized):
                continue
            found = True
            if node is not None:
                records.update(to_records(node, p))
        if not found:
            raise NotFound("none of the requested paths is present")
        return records

    async def write_composite(self, req: Message, path: Path, server: ServerContext) -> Message:
        if path:
            raise MethodNotAllowed("Write-Composite is addressed to the root path")
        decoded = self.decode(req, path)
        if not isinstance(decoded, dict):
            raise BadRequest("Write-Composite needs a list of resource values")
        plan = []
        by_instance: dict[Path, Records] = {}
        for p, v in decoded.items():
            if p[0] in BOOTSTRAP_ONLY_OBJECTS:
                raise Unauthorized(f"{p} is not accessible to a management server")
            by_instance.setdefault(Path(p[0], p[1]), {})[p] = v
        for ipath, records in by_instance.items():
            self.authorize(server, ipath, Right.WRITE)
            multiple = {
                Path(*p[:3]): bool(rdef and rdef.multiple)
                for p in records
                if (rdef := self.store.registry.resource(p)) is not None
            }
            node = from_records(records, ipath, multiple)
            assert isinstance(node, InstanceNode)
            plan += self.store.plan_write(ipath, node, replace=False)
        await self.store.validate_plan(plan)
        await self.store.apply_plan(plan)
        return Message.response_to(req, Code.CHANGED)


def _discover_depth(queries: tuple[str, ...], path: Path, v10: bool) -> int:
    """How many levels below ``path`` a Discover lists (Core TS 1.1 5.4.2 ``depth``)."""
    if v10:
        # LwM2M 1.0: an object lists instances and resources, a resource nothing below.
        return 2 if len(path) == 1 else (1 if len(path) == 2 else 0)
    depth = 2 if len(path) == 1 else 1
    for q in queries:
        name, _, value = q.partition("=")
        if name != "depth":
            raise BadRequest(f"Discover does not take the parameter {name!r}")
        if value not in ("0", "1", "2", "3"):
            raise BadRequest(f"depth must be 0, 1, 2 or 3, not {value!r}")
        depth = int(value)
    return depth


def _expand_root(paths: list[Path], object_ids: list[int]) -> list[Path]:
    """Replace the root path by the objects a management server may read."""
    out: list[Path] = []
    for p in paths:
        if p:
            out.append(p)
        else:
            out.extend(Path(oid) for oid in object_ids if oid not in BOOTSTRAP_ONLY_OBJECTS)
    return out


_CONTENT_FORMAT_OPTIONS: dict[int, Option] = {}


def _content_format(fmt: int) -> Option:
    """The Content-Format option of an answer in ``fmt``, encoded once per format."""
    option = _CONTENT_FORMAT_OPTIONS.get(fmt)
    if option is None:
        option = _CONTENT_FORMAT_OPTIONS[fmt] = (OptionNumber.CONTENT_FORMAT, encode_uint(fmt, 2))
    return option


def _method(req: Message) -> str:
    try:
        return Code(req.code).name
    except ValueError:
        return str(req.code)


def _error(req: Message, code: int, text: str) -> Message:
    """An error response with a diagnostic payload (RFC 7252 5.5.2)."""
    return Message.response_to(req, code, text.encode("utf-8")[:128])
