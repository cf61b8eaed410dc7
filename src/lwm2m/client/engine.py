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
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from lwm2m import formats
from lwm2m.client.attributes import AttributeStore, AttributeUpdate, format_attribute
from lwm2m.client.store import ObjectStore
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat
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
from lwm2m.formats import negotiation
from lwm2m.model import (
    InstanceNode,
    MultiResourceNode,
    Node,
    ObjectNode,
    Path,
    Records,
    ResourceType,
    from_records,
)

log = logging.getLogger(__name__)

#: Objects a management server may never touch (Core TS 1.1 6.3: Security, OSCORE).
BOOTSTRAP_ONLY_OBJECTS = frozenset({0, 21})


@dataclass(slots=True)
class ServerContext:
    """The server a request comes from, with the attributes it attached."""

    short_id: int
    is_bootstrap: bool = False
    attributes: AttributeStore = field(default_factory=AttributeStore)


class Engine:
    """Answers device-management requests from the servers of one client."""

    def __init__(self, store: ObjectStore, *, lwm2m_version: str = "1.1") -> None:
        self.store = store
        self.lwm2m_version = lwm2m_version

    # ------------------------------------------------------------ dispatch
    async def handle(self, request: Message, server: ServerContext) -> Message:
        """Answer one request; never raises for a bad request."""
        try:
            return await self._dispatch(request, server)
        except OperationError as exc:
            log.info("%s %s -> %s: %s", _method(request), request.path_string, exc.code, exc)
            return _error(request, exc.code, str(exc))
        except (DecodeError, ModelError) as exc:
            log.info("%s %s -> 4.00: %s", _method(request), request.path_string, exc)
            return _error(request, Code.BAD_REQUEST, str(exc))

    async def _dispatch(self, req: Message, server: ServerContext) -> Message:
        try:
            path = Path.from_segments(req.uri_path)
        except ModelError as exc:
            raise NotFound(str(exc)) from None
        if path and path[0] in BOOTSTRAP_ONLY_OBJECTS and not server.is_bootstrap:
            raise Unauthorized(f"object {path[0]} is not accessible to a management server")
        code = req.code
        if code == Code.GET:
            if req.accept == ContentFormat.LINK_FORMAT:
                return self.discover(req, path, server)
            return self.read(req, path)
        if code == Code.PUT:
            if not req.payload and req.content_format is None and req.uri_query:
                return self.write_attributes(req, path, server)
            return await self.write(req, path, replace=True, server=server)
        if code == Code.POST:
            return await self._post(req, path, server)
        if code == Code.DELETE:
            return await self.delete(req, path, server)
        if code == Code.FETCH:
            return self.read_composite(req, path)
        if code == Code.IPATCH:
            return await self.write_composite(req, path)
        raise MethodNotAllowed(f"method {_method(req)} is not supported")

    async def _post(self, req: Message, path: Path, server: ServerContext) -> Message:
        if len(path) == 1:
            return await self.create(req, path, server)
        if len(path) == 3:
            rdef = self.store.resource_def(path)
            if rdef.operations.executable:
                return await self.execute(req, path)
            if not req.payload:
                raise MethodNotAllowed(f"{path} is not executable")
        if len(path) in (2, 3) or (len(path) == 4 and req.payload):
            return await self.write(req, path, replace=False, server=server)
        raise MethodNotAllowed(f"POST is not allowed on {path}")

    # --------------------------------------------------------------- Read
    def response_format(self, req: Message, path: Path, node: Node | Records) -> int:
        """Pick the response content format for ``node`` (Accept or the version default)."""
        single: ResourceType | None = None
        if len(path) == 4 or (len(path) == 3 and not isinstance(node, MultiResourceNode)):
            single = self.store.type_of(path)
        try:
            fmt = negotiation.choose_format(req.accept, path, self.lwm2m_version, single)
        except UnsupportedFormat as exc:
            raise NotAcceptable(str(exc)) from None
        if not negotiation.supports(fmt, path, node):
            raise NotAcceptable(f"content format {fmt} cannot carry {path}")
        return fmt

    def encode(self, req: Message, path: Path, node: Node | Records) -> tuple[int, bytes]:
        fmt = self.response_format(req, path, node)
        try:
            return fmt, formats.encode(fmt, node, path, self.store.registry)
        except UnsupportedFormat as exc:
            raise NotAcceptable(str(exc)) from None

    def read(self, req: Message, path: Path) -> Message:
        if not path:
            raise MethodNotAllowed("Read on the root path needs Read-Composite (FETCH)")
        node = self.store.read(path)
        assert node is not None
        fmt, payload = self.encode(req, path, node)
        return Message.response_to(req, Code.CONTENT, payload, content_format=fmt)

    # --------------------------------------------------------------- Write
    def decode(self, req: Message, path: Path) -> Node | Records:
        fmt = req.content_format
        if fmt is None:
            if len(path) < 3:
                raise BadRequest("a Write on an instance needs a Content-Format")
            fmt = ContentFormat.TEXT_PLAIN
        if fmt not in formats.ALL_FORMATS or fmt == ContentFormat.LINK_FORMAT:
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
        node = self.decode(req, path)
        if isinstance(node, dict):
            raise BadRequest("a composite payload needs Write-Composite (iPATCH)")
        if server.is_bootstrap:
            plan = self.store.plan_write(
                path, node, replace=replace, check_access=False, create_missing=True
            )
            await self.store.validate_plan(plan)
            await self.store.apply_plan(plan)
        else:
            await self.store.write(path, node, replace=replace)
        return Message.response_to(req, Code.CHANGED)

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
            try:
                decoded = self.decode(req, path)
            except DecodeError:
                # A payload of bare resources: the client picks the instance id
                # (Core TS 1.0.2 5.4.6, TLV without an Object Instance wrapper).
                iid = self.store.free_instance_id(path[0])
                decoded = self.decode(req, path.child(iid))
                if isinstance(decoded, InstanceNode):
                    decoded.id = iid
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
        resp = Message.response_to(req, Code.CREATED)
        resp.location_path = (str(path[0]), str(iid))
        return resp

    async def delete(self, req: Message, path: Path, server: ServerContext) -> Message:
        if not server.is_bootstrap and len(path) != 2:
            raise MethodNotAllowed("Delete is only allowed on an object instance")
        if not server.is_bootstrap and path[0] == 1:
            raise MethodNotAllowed("a server cannot delete its own Server instance")
        if server.is_bootstrap:
            await self._bootstrap_delete(path)
        else:
            await self.store.delete(path)
        server.attributes.drop_below(path)
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
        if not path:
            raise MethodNotAllowed("Discover needs an object, instance or resource path")
        self.store._locate(path)
        links: list[linkfmt.Link] = []
        attrs = server.attributes

        def add(p: Path, extra: dict[str, str | None] | None = None) -> None:
            params: dict[str, str | None] = dict(extra or {})
            for name, value in attrs.get(p).items():
                params[name] = format_attribute(value, name)
            links.append(linkfmt.Link(str(p), params))

        def add_resources(ipath: Path) -> None:
            odef = self.store.registry.get(ipath[0])
            for rid in self.store.present_resource_ids(ipath[0], ipath[1]):
                rpath = ipath.child(rid)
                rdef = odef.resources.get(rid) if odef else None
                if rdef is not None and rdef.operations.executable:
                    add(rpath)
                    continue
                stored = self.store.get(rpath)
                extra: dict[str, str | None] = {}
                if (rdef is not None and rdef.multiple) or isinstance(stored, dict):
                    extra["dim"] = str(len(stored) if isinstance(stored, dict) else 0)
                add(rpath, extra)

        if len(path) == 1:
            odef = self.store.registry.get(path[0])
            ver = odef.version if odef is not None else "1.0"
            add(path, {"ver": ver} if ver != "1.0" else None)
            for iid in self.store.instance_ids(path[0]):
                add(path.child(iid))
                add_resources(path.child(iid))
        elif len(path) == 2:
            add(path)
            add_resources(path)
        else:
            rdef = self.store.registry.resource(path)
            stored = self.store.get(path)
            extra: dict[str, str | None] = {}
            if isinstance(stored, dict):
                extra["dim"] = str(len(stored))
            add(path, extra)
            if isinstance(stored, dict) and rdef is not None and len(path) == 3:
                for ri in stored:
                    add(path.child(ri))
        payload = linkfmt.format_links(links).encode()
        return Message.response_to(
            req, Code.CONTENT, payload, content_format=ContentFormat.LINK_FORMAT
        )

    def write_attributes(self, req: Message, path: Path, server: ServerContext) -> Message:
        update = AttributeUpdate.parse(req.uri_query, path)
        self.store._locate(path)
        server.attributes.apply(path, update)
        return Message.response_to(req, Code.CHANGED)

    # ---------------------------------------------------------- composite
    def _composite_paths(self, req: Message) -> list[Path]:
        from lwm2m.formats import senml_cbor, senml_json

        fmt = req.content_format
        if fmt == ContentFormat.SENML_JSON:
            return list(senml_json.decode_paths(req.payload))
        if fmt == ContentFormat.SENML_CBOR:
            return list(senml_cbor.decode_paths(req.payload))
        raise UnsupportedContentFormat(f"composite requests need SenML, not {fmt}")

    def read_composite(self, req: Message, path: Path) -> Message:
        if path:
            raise MethodNotAllowed("Read-Composite is addressed to the root path")
        paths = self._composite_paths(req)
        for p in paths:
            if p and p[0] in BOOTSTRAP_ONLY_OBJECTS:
                raise Unauthorized(f"{p} is not accessible to a management server")
        records = self.store.read_records(paths)
        accept = req.accept if req.accept is not None else req.content_format
        fmt = accept if accept is not None else ContentFormat.SENML_CBOR
        if fmt not in (
            ContentFormat.SENML_JSON,
            ContentFormat.SENML_CBOR,
            ContentFormat.LWM2M_CBOR,
        ):
            raise NotAcceptable(f"content format {fmt} cannot carry a composite answer")
        payload = formats.encode(fmt, records, path, self.store.registry)
        return Message.response_to(req, Code.CONTENT, payload, content_format=fmt)

    async def write_composite(self, req: Message, path: Path) -> Message:
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


def _method(req: Message) -> str:
    try:
        return Code(req.code).name
    except ValueError:
        return str(req.code)


def _error(req: Message, code: int, text: str) -> Message:
    """An error response with a diagnostic payload (RFC 7252 5.5.2)."""
    return Message.response_to(req, code, text.encode("utf-8")[:128])
