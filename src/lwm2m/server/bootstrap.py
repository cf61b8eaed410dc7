"""The LwM2M Bootstrap-Server (Core TS 1.1 section 6.1, 1.0.2 section 5.2).

Theory of operation
-------------------
A client sends Bootstrap-Request, ``POST /bs?ep=NAME[&pct=FORMAT]``. The
server looks the endpoint up in its :class:`~lwm2m.server.bootstrap_config.BootstrapConfig`:

* unknown endpoint (and no default): the configured code, 4.00 or 4.04, and a
  :class:`BootstrapRejected` event;
* a DTLS identity (see ``identity_of``) that is not the endpoint's own, or an
  endpoint configured with a bootstrap PSK that comes without it: 4.03;
* otherwise 2.04, and a session runs against the request's source address,
  through the same socket (or DTLS session), one request at a time:

  1. Bootstrap-Discover (``GET`` with Accept 40) of the configured path, when
     asked; the answer (``lwm2m="1.1",</0/0>,</0/1>;ssid=101,...``) tells the
     client's version and where its Bootstrap-Server account lives, so new
     Security instances do not overwrite it;
  2. Bootstrap-Read (1.1, ``GET``) of the configured paths;
  3. Bootstrap-Delete of the configured paths (default ``/``); 4.04 counts as
     done (nothing to delete);
  4. Bootstrap-Write (``PUT /0/x``, ``PUT /1/y``), one per instance, in the
     configured format, else the ``pct`` of the request, else TLV for a 1.0
     (or unknown) client and SenML CBOR for 1.1 and later;
  5. Bootstrap-Finish (``POST /bs``), answered 2.04; a 4.06 means the client
     found the configuration inconsistent (Core TS 1.1 6.1.7) and kept its old one.

Each step must get its success code (2.05, 2.02, 2.04); any other code, no
answer, or an answer that does not parse ends the session with a
:class:`BootstrapFailed` event naming the step and the reason. A new
Bootstrap-Request from the same endpoint replaces a session in progress.
:meth:`BootstrapServer.bootstrap` runs the same sequence without a request
(server-initiated bootstrap) and returns the final event.

Events (:data:`BootstrapEvent`) go to callbacks (:meth:`BootstrapServer.on_event`)
and to async iterators (:meth:`BootstrapServer.events`).

Listeners: :meth:`BootstrapServer.start` binds UDP (``coap_port``) and, when
``coaps_port`` is given and python-mbedtls is installed, a DTLS listener
whose key store is the endpoints' ``bootstrap_psk`` (and, with
``coaps_certificate``, which accepts certificate clients); :meth:`BootstrapServer.attach`
serves on any :class:`~lwm2m.coap.endpoint.Endpoint`, with an ``identity_of(address)``
hook telling the authenticated identity of a peer.

Store: with ``store=`` (a :class:`~lwm2m.server.store.bootstrap_base.BootstrapStore`)
every Bootstrap-Request reads the endpoint's configuration from the store (the
``config`` then gives only the default and the answer to unknown endpoints),
and every DTLS handshake looks the PSK identity up in the store's security
info, so what the REST API changes applies to the next request. An endpoint
with security info in the store must come over DTLS with that identity (4.03
otherwise), and an identity serves only its own endpoint.

Placement: ``placement(endpoint, config)``, when set, rewrites each session's
configuration before it is written (a cluster hands out a live server node,
:mod:`lwm2m.server.cluster.placement`); a :class:`StoreError` it raises answers
the Bootstrap-Request 5.00.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from lwm2m import formats
from lwm2m.coap.endpoint import Endpoint
from lwm2m.coap.errors import RequestError
from lwm2m.coap.layer import TransmissionParams
from lwm2m.coap.message import Message
from lwm2m.coap.numbers import Code, ContentFormat, dotted
from lwm2m.errors import DecodeError, EncodeError, ModelError, UnsupportedFormat
from lwm2m.events import Callback, EventHub
from lwm2m.formats.link import Link, parse_links
from lwm2m.model import Node, Path, Records, Registry
from lwm2m.server.bootstrap_config import (
    NODE_FORMATS,
    BootstrapConfig,
    EndpointConfig,
    planned_writes,
)
from lwm2m.server.store.base import SecurityMode, StoreError
from lwm2m.tasks import TaskSet
from lwm2m.transport.base import Address

if TYPE_CHECKING:  # python-mbedtls is optional: imported when a coaps listener starts
    from lwm2m.server.store.bootstrap_base import BootstrapStore
    from lwm2m.transport.dtls_common import CertificateCredentials

__all__ = [
    "BootstrapDiscovered",
    "BootstrapEvent",
    "BootstrapFailed",
    "BootstrapFinished",
    "BootstrapReadDone",
    "BootstrapRejected",
    "BootstrapServer",
    "BootstrapStarted",
    "IdentityOf",
    "bootstrap_accounts",
    "choose_write_format",
    "parse_bootstrap_discover",
]

log = logging.getLogger(__name__)

IdentityOf = Callable[[Address], "bytes | str | None"]
"""Who a peer proved to be (DTLS PSK identity or certificate subject), or None."""

DEFAULT_COAP_PORT: Final = 5783
DEFAULT_COAPS_PORT: Final = 5784

# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class BootstrapStarted:
    """A session began: after a Bootstrap-Request, or server-initiated."""

    endpoint: str
    address: Address
    server_initiated: bool = False


@dataclass(frozen=True, slots=True)
class BootstrapDiscovered:
    """The answer of a Bootstrap-Discover."""

    endpoint: str
    address: Address
    path: str
    lwm2m_version: str | None
    links: tuple[Link, ...]


@dataclass(frozen=True, slots=True)
class BootstrapReadDone:
    """The decoded answer of a Bootstrap-Read (LwM2M 1.1)."""

    endpoint: str
    address: Address
    path: str
    content_format: int
    value: Node | Records


@dataclass(frozen=True, slots=True)
class BootstrapFinished:
    """Bootstrap-Finish answered 2.04: the client took the configuration."""

    endpoint: str
    address: Address
    content_format: int
    written: tuple[str, ...]
    discovered: tuple[Link, ...] = ()
    reads: Mapping[str, Node | Records] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BootstrapFailed:
    """A session ended without success; ``step`` names the operation, ``code`` its answer."""

    endpoint: str
    address: Address
    step: str
    reason: str
    code: int | None = None


@dataclass(frozen=True, slots=True)
class BootstrapRejected:
    """A Bootstrap-Request was refused (unknown endpoint, wrong identity, bad query)."""

    endpoint: str | None
    address: Address
    code: int
    reason: str


BootstrapEvent = (
    BootstrapStarted
    | BootstrapDiscovered
    | BootstrapReadDone
    | BootstrapFinished
    | BootstrapFailed
    | BootstrapRejected
)
EventCallback = Callback[BootstrapEvent]

# ------------------------------------------------------------------ pure helpers

_VERSION_RE = re.compile(r'\s*lwm2m\s*=\s*"?([0-9]+\.[0-9]+)"?\s*(?:,|$)')


def parse_bootstrap_discover(payload: bytes) -> tuple[str | None, list[Link]]:
    """Split a Bootstrap-Discover answer into the ``lwm2m=`` version and the links.

    Core TS 1.1 6.1.7.3: ``lwm2m="1.1",</0/0>,</0/1>;ssid=101,</1/0>;ssid=101,</3/0>``.
    Raises :class:`DecodeError` when the payload does not parse.
    """
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("Bootstrap-Discover answer: invalid UTF-8", exc.start) from None
    version: str | None = None
    match = _VERSION_RE.match(text)
    if match is not None:
        version = match.group(1)
        text = text[match.end() :]
    return version, parse_links(text)


def bootstrap_accounts(links: list[Link] | tuple[Link, ...]) -> set[int]:
    """Security instance ids of Bootstrap-Server accounts: ``</0/x>`` links without ``ssid``."""
    ids: set[int] = set()
    for link in links:
        try:
            path = Path.parse(link.target)
        except (ModelError, ValueError):
            continue
        if path.level == 2 and path[0] == 0 and "ssid" not in link.params:
            ids.add(path[1])
    return ids


def choose_write_format(
    config: EndpointConfig, pct: int | None, discovered_version: str | None
) -> int:
    """Content format of the Bootstrap-Writes (see the module docstring)."""
    if config.content_format is not None:
        return config.content_format
    if pct is not None and pct in NODE_FORMATS.values():
        return pct
    version = config.lwm2m_version or discovered_version
    if version is not None and version != "1.0":
        return ContentFormat.SENML_CBOR
    return ContentFormat.LWM2M_TLV


def _query(request: Message) -> tuple[str | None, int | None, str]:
    """``(ep, pct, problem)`` from the Bootstrap-Request Uri-Query (Core TS 1.1 6.1.1)."""
    ep: str | None = None
    pct: int | None = None
    for item in request.uri_query:
        name, _, value = item.partition("=")
        if name == "ep" and ep is None:
            ep = value
        elif name == "pct" and pct is None:
            if not value.isdigit() or int(value) > 0xFFFF:
                return ep, None, f"pct={value!r} is not a content format number"
            pct = int(value)
    if not ep:
        return None, pct, "missing endpoint name (ep=)"
    return ep, pct, ""


class _StepFailed(Exception):
    def __init__(self, reason: str, code: int | None = None) -> None:
        super().__init__(reason)
        self.code = code


def _code_name(code: int) -> str:
    try:
        name = Code(code).name.replace("_", " ").title()
    except ValueError:
        return dotted(code)
    return f"{dotted(code)} {name}"


def _expect(response: Message, *codes: int) -> None:
    if response.code not in codes:
        detail = response.payload[:128].decode("utf-8", "replace")
        reason = f"answered {_code_name(response.code)}"
        raise _StepFailed(f"{reason}: {detail}" if detail else reason, response.code)


# --------------------------------------------------------------------------- session


@dataclass(slots=True)
class _Session:
    endpoint: str
    config: EndpointConfig
    via: Endpoint
    remote: Address
    pct: int | None
    server_initiated: bool
    step: str = "start"
    cancel_reason: str = "cancelled"
    task: asyncio.Task[BootstrapFinished | BootstrapFailed] | None = None
    result: BootstrapFinished | BootstrapFailed | None = None


@dataclass(slots=True)
class _Listener:
    endpoint: Endpoint
    identity_of: IdentityOf | None
    owned: bool
    #: Closes the DTLS sessions of an identity (listeners this server opened).
    close_sessions: Callable[[bytes | str], int] | None = None


class BootstrapServer:
    """An LwM2M Bootstrap-Server (see the module docstring)."""

    def __init__(
        self,
        config: BootstrapConfig | None = None,
        *,
        store: BootstrapStore | None = None,
        registry: Registry | None = None,
        transmission: TransmissionParams | None = None,
        request_timeout: float | None = None,
    ) -> None:
        self.config = config if config is not None else BootstrapConfig()
        #: Per-endpoint configurations and bootstrap credentials, read per request.
        self.store = store
        self.registry = registry
        self.transmission = transmission
        #: Bound on each request of a session (None: the CoAP retransmissions decide).
        self.request_timeout = request_timeout
        #: Rewrites a session's configuration first (see "Placement" in the module).
        self.placement: Callable[[str, EndpointConfig], EndpointConfig] | None = None
        self._listeners: list[_Listener] = []
        self._sessions: dict[str, _Session] = {}
        self._tasks = TaskSet()
        self._events: EventHub[BootstrapEvent] = EventHub(self._spawn, logger=log)
        self._closed = False

    # ------------------------------------------------------------ configuration
    def set_endpoint(self, name: str, config: EndpointConfig, *, check: bool = True) -> None:
        """Add or replace one endpoint's configuration (``check=False`` allows
        inconsistent ones, e.g. to test a client's 4.06)."""
        if not name:
            raise ValueError("endpoint name must not be empty")
        if check:
            config.check(f"endpoints.{name}")
        self.config.endpoints[name] = config

    def remove_endpoint(self, name: str) -> None:
        self.config.endpoints.pop(name, None)

    def lookup(self, endpoint: str) -> EndpointConfig | None:
        """The configuration of ``endpoint``: the store's, else the config's (or its default)."""
        if self.store is not None:
            found = self.store.get_config(endpoint)
            if found is not None:
                return found
        return self.config.lookup(endpoint)

    def psk_key(self, identity: bytes) -> bytes | None:
        """The DTLS listener's key store: the store's security info, then the config's PSKs."""
        if self.store is not None:
            try:
                info = self.store.get_security_by_identity(identity.decode("utf-8"))
            except (UnicodeDecodeError, StoreError) as exc:
                log.debug("PSK lookup of %r: %s", identity, exc)
                info = None
            if info is not None and info.mode is SecurityMode.PSK:
                return info.psk_key
        return self.config.psk_key(identity)

    # ------------------------------------------------------------------ listeners
    async def start(
        self,
        host: str = "127.0.0.1",
        coap_port: int | None = DEFAULT_COAP_PORT,
        coaps_port: int | None = None,
        coaps_certificate: CertificateCredentials | None = None,
    ) -> None:
        """Bind the UDP listener and, when ``coaps_port`` is given, the DTLS one.

        The DTLS listener takes the endpoints' bootstrap PSKs and, with
        ``coaps_certificate`` (this server's certificate and key, and the CAs
        client certificates must chain to), certificate clients as well.
        """
        if coap_port is not None:
            udp = await Endpoint.create_udp(host, coap_port, params=self.transmission)
            self._add_listener(udp, None, owned=True)
        if coaps_port is not None:
            from lwm2m.transport.dtls import DtlsServerTransport

            # --- DTLS listener credentials: PSK store, certificate (optional) ---
            dtls = await DtlsServerTransport.create(
                host, coaps_port, psk_store=self.psk_key, certificate=coaps_certificate
            )
            # --- end DTLS listener credentials ---
            endpoint = Endpoint(dtls, params=self.transmission)
            self._add_listener(endpoint, dtls.peer_identity, owned=True)
            self._listeners[-1].close_sessions = dtls.close_sessions_of

    def attach(self, endpoint: Endpoint, *, identity_of: IdentityOf | None = None) -> None:
        """Serve Bootstrap-Requests arriving on ``endpoint`` (not closed by :meth:`close`)."""
        self._add_listener(endpoint, identity_of, owned=False)

    def _add_listener(
        self, endpoint: Endpoint, identity_of: IdentityOf | None, owned: bool
    ) -> None:
        listener = _Listener(endpoint, identity_of, owned)
        self._listeners.append(listener)

        async def handler(request: Message, remote: Address) -> Message:
            return self._on_bootstrap_request(listener, request, remote)

        endpoint.add_resource("/bs", handler)

    @property
    def addresses(self) -> list[Address]:
        """Local addresses of the listeners, in the order they were added."""
        return [listener.endpoint.local_address for listener in self._listeners]

    @property
    def listening(self) -> list[tuple[str, Address]]:
        """``("coap" | "coaps", local address)`` of each listener (coaps: with an identity hook)."""
        return [
            ("coap" if listener.identity_of is None else "coaps", listener.endpoint.local_address)
            for listener in self._listeners
        ]

    def listeners(self) -> list[tuple[str, Address]]:
        """The same as :attr:`listening` (the REST API's ``/api/server/endpoint``)."""
        return self.listening

    def close_secure_sessions(self, identity: bytes | str) -> int:
        """Close the DTLS sessions of peers that proved ``identity`` (a PSK identity as
        bytes, or a certificate subject or its CN); how many. A removed credential
        must not keep its sessions."""
        closers = [li.close_sessions for li in self._listeners if li.close_sessions is not None]
        return sum(close(identity) for close in closers)

    @property
    def active_sessions(self) -> list[str]:
        return list(self._sessions)

    async def close(self) -> None:
        """End every session (a :class:`BootstrapFailed` each) and close owned listeners."""
        if self._closed:
            return
        self._closed = True
        for session in list(self._sessions.values()):
            self._cancel(session, "bootstrap server stopped")
        await self._tasks.wait()
        for listener in self._listeners:
            if listener.owned:
                await listener.endpoint.close()
            else:
                listener.endpoint.remove_resource("/bs")
        self._listeners.clear()

    async def __aenter__(self) -> BootstrapServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --------------------------------------------------------------------- events
    def on_event(self, callback: EventCallback) -> EventCallback:
        """Call ``callback(event)`` (sync or async) for every event; usable as a decorator."""
        return self._events.add_callback(callback)

    def events(self) -> AsyncIterator[BootstrapEvent]:
        """Iterate over events from the first ``__anext__`` on."""
        return self._events.iterate()

    def _emit(self, event: BootstrapEvent) -> None:
        log.info("%s", event)
        self._events.publish(event)

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task[Any]:
        return self._tasks.spawn(coro)

    # ----------------------------------------------------------- Bootstrap-Request
    def _on_bootstrap_request(
        self, listener: _Listener, request: Message, remote: Address
    ) -> Message:
        if tuple(request.uri_path) != ("bs",):
            return Message.response_to(request, Code.NOT_FOUND)
        if request.code != Code.POST:
            return Message.response_to(request, Code.METHOD_NOT_ALLOWED)
        ep, pct, problem = _query(request)
        if problem:
            return self._reject(request, ep, remote, Code.BAD_REQUEST, problem)
        assert ep is not None
        identity = listener.identity_of(remote) if listener.identity_of is not None else None
        try:
            config = self.lookup(ep)
            problem = self._stored_identity_problem(ep, identity)
        except StoreError as exc:
            log.error("bootstrap store: %s", exc)
            reason = "the bootstrap store cannot be read"
            return self._reject(request, ep, remote, Code.INTERNAL_SERVER_ERROR, reason)
        if config is None:
            reason = f"no bootstrap configuration for endpoint {ep!r}"
            return self._reject(request, ep, remote, self.config.unknown_endpoint_code, reason)
        problem = problem or self._identity_problem(ep, config, identity)
        if problem:
            return self._reject(request, ep, remote, Code.FORBIDDEN, problem)
        if self._closed:
            return Message.response_to(request, Code.SERVICE_UNAVAILABLE)
        if self.placement is not None:
            try:
                config = self.placement(ep, config)
            except StoreError as exc:
                log.error("bootstrap placement: %s", exc)
                reason = "no server node can be chosen now"
                return self._reject(request, ep, remote, Code.INTERNAL_SERVER_ERROR, reason)
        session = _Session(ep, config, listener.endpoint, remote, pct, server_initiated=False)
        self._begin(session)
        return Message.response_to(request, Code.CHANGED)

    def _stored_identity_problem(self, ep: str, identity: bytes | str | None) -> str:
        """The store's security info: the endpoint's own credentials, the identity's owner."""
        if self.store is None:
            return ""
        text = identity.decode("utf-8", "replace") if isinstance(identity, bytes) else identity
        info = self.store.get_security(ep)
        if info is not None:
            if info.mode is SecurityMode.PSK and text != info.psk_identity:
                return f"endpoint {ep!r} must connect with its bootstrap PSK identity over DTLS"
            if info.mode is SecurityMode.X509:
                # the certificate's subject, as Mbed TLS writes it: "C=FR, O=Acme, CN=dev1"
                names = [p[3:] for p in (text or "").split(", ") if p.startswith("CN=")]
                if names[-1:] != [ep]:
                    return f"endpoint {ep!r} must connect with a certificate whose CN is {ep!r}"
            if info.mode is SecurityMode.RPK:
                return f"endpoint {ep!r} has a raw public key: this server's DTLS has no RPK"
        if text is not None:
            owner = self.store.get_security_by_identity(text)
            if owner is not None and owner.endpoint != ep:
                return f"identity {text!r} belongs to endpoint {owner.endpoint!r}, not {ep!r}"
        return ""

    def _identity_problem(
        self, ep: str, config: EndpointConfig, identity: bytes | str | None
    ) -> str:
        psk = config.bootstrap_psk
        if psk is not None and identity not in (
            psk.identity,
            psk.identity.decode("utf-8", "replace"),
        ):
            return f"endpoint {ep!r} must connect with its bootstrap PSK identity over DTLS"
        if identity is not None:
            owner = self.config.owner_of(identity)
            if owner is not None and owner != ep:
                return f"identity {identity!r} belongs to endpoint {owner!r}, not {ep!r}"
        return ""

    def _reject(
        self, request: Message, ep: str | None, remote: Address, code: int, reason: str
    ) -> Message:
        log.info("Bootstrap-Request from %s (ep=%r) refused: %s", remote, ep, reason)
        self._emit(BootstrapRejected(ep, remote, code, reason))
        return Message.response_to(request, code, reason.encode()[:128])

    # ----------------------------------------------------------------- sessions
    async def bootstrap(
        self,
        endpoint: str,
        address: Address,
        *,
        config: EndpointConfig | None = None,
        via: Endpoint | None = None,
    ) -> BootstrapFinished | BootstrapFailed:
        """Server-initiated bootstrap of the client at ``address``; returns the final event.

        ``config`` defaults to the endpoint's configuration; ``via`` to the first listener.
        """
        cfg = config if config is not None else self.lookup(endpoint)
        if cfg is None:
            raise KeyError(f"no bootstrap configuration for endpoint {endpoint!r}")
        if config is None and self.placement is not None:
            cfg = self.placement(endpoint, cfg)
        if via is None:
            if not self._listeners:
                raise RuntimeError("the bootstrap server has no listener: call start() first")
            via = self._listeners[0].endpoint
        session = _Session(endpoint, cfg, via, address, None, server_initiated=True)
        task = self._begin(session)
        await asyncio.wait({task})  # a replaced or stopped session still gives its result
        if session.result is None:  # cancelled before its first step
            session.result = BootstrapFailed(endpoint, address, "start", session.cancel_reason)
        return session.result

    def _begin(self, session: _Session) -> asyncio.Task[BootstrapFinished | BootstrapFailed]:
        old = self._sessions.get(session.endpoint)
        if old is not None:
            self._cancel(old, "replaced by a new bootstrap session")
        self._sessions[session.endpoint] = session
        task: asyncio.Task[BootstrapFinished | BootstrapFailed] = self._spawn(self._run(session))
        session.task = task
        return task

    def _cancel(self, session: _Session, reason: str) -> None:
        session.cancel_reason = reason
        if session.task is not None:
            session.task.cancel()

    async def _run(self, s: _Session) -> BootstrapFinished | BootstrapFailed:
        self._emit(BootstrapStarted(s.endpoint, s.remote, s.server_initiated))
        result: BootstrapFinished | BootstrapFailed
        try:
            result = await self._sequence(s)
        except asyncio.CancelledError:
            result = BootstrapFailed(s.endpoint, s.remote, s.step, s.cancel_reason)
            self._finish(s, result)
            raise
        except _StepFailed as exc:
            result = BootstrapFailed(s.endpoint, s.remote, s.step, str(exc), exc.code)
        except RequestError as exc:
            reason = f"no answer ({type(exc).__name__}: {exc})"
            result = BootstrapFailed(s.endpoint, s.remote, s.step, reason)
        except (DecodeError, EncodeError, ModelError, UnsupportedFormat) as exc:
            result = BootstrapFailed(s.endpoint, s.remote, s.step, f"{type(exc).__name__}: {exc}")
        self._finish(s, result)
        return result

    def _finish(self, s: _Session, result: BootstrapFinished | BootstrapFailed) -> None:
        s.result = result
        if self._sessions.get(s.endpoint) is s:
            del self._sessions[s.endpoint]
        self._emit(result)

    async def _send(self, s: _Session, step: str, request: Message) -> Message:
        s.step = step
        log.debug("%s: %s", s.endpoint, step)
        return await s.via.request(request, remote=s.remote, timeout=self.request_timeout)

    async def _sequence(self, s: _Session) -> BootstrapFinished:
        cfg = s.config
        links: tuple[Link, ...] = ()
        version: str | None = None
        if cfg.discover is not None:
            links, version = await self._discover(s, cfg.discover)
        fmt = choose_write_format(cfg, s.pct, version)
        reads: dict[str, Node | Records] = {}
        for text in cfg.read:
            reads[text] = await self._read(s, text, fmt)
        for text in cfg.delete:
            step = f"Bootstrap-Delete {Path.parse(text)}"
            response = await self._send(
                s, step, Message.request(Code.DELETE, str(Path.parse(text)))
            )
            _expect(response, Code.DELETED, Code.NOT_FOUND)
        written: list[str] = []
        for path, node in planned_writes(cfg, bootstrap_accounts(links)):
            payload = formats.encode(fmt, node, path, self.registry)
            request = Message.request(Code.PUT, str(path), payload=payload, content_format=fmt)
            _expect(await self._send(s, f"Bootstrap-Write {path}", request), Code.CHANGED)
            written.append(str(path))
        finish = await self._send(s, "Bootstrap-Finish", Message.request(Code.POST, "/bs"))
        if finish.code == Code.NOT_ACCEPTABLE:
            detail = finish.payload[:128].decode("utf-8", "replace")
            reason = "the client found the configuration inconsistent (4.06 Not Acceptable)"
            raise _StepFailed(f"{reason}: {detail}" if detail else reason, finish.code)
        _expect(finish, Code.CHANGED)
        return BootstrapFinished(s.endpoint, s.remote, fmt, tuple(written), links, reads)

    async def _discover(self, s: _Session, text: str) -> tuple[tuple[Link, ...], str | None]:
        path = str(Path.parse(text))
        request = Message.request(Code.GET, path, accept=ContentFormat.LINK_FORMAT)
        response = await self._send(s, f"Bootstrap-Discover {path}", request)
        _expect(response, Code.CONTENT)
        version, links = parse_bootstrap_discover(response.payload)
        found = tuple(links)
        self._emit(BootstrapDiscovered(s.endpoint, s.remote, path, version, found))
        return found, version

    async def _read(self, s: _Session, text: str, fmt: int) -> Node | Records:
        path = Path.parse(text)
        request = Message.request(Code.GET, str(path), accept=fmt)
        response = await self._send(s, f"Bootstrap-Read {path}", request)
        _expect(response, Code.CONTENT)
        got = response.content_format if response.content_format is not None else fmt
        value = formats.decode(got, response.payload, path, self.registry)
        self._emit(BootstrapReadDone(s.endpoint, s.remote, str(path), got, value))
        return value

    # ------------------------------------------------------------------ waiting
    def wait_for(
        self,
        *kinds: type[BootstrapEvent],
        endpoint: str | None = None,
        timeout: float = 30.0,
    ) -> Awaitable[BootstrapEvent]:
        """The next event of one of ``kinds`` (of ``endpoint`` when given).

        Events count from this call on, so call it before triggering what it waits
        for, then await the result::

            done = server.wait_for(BootstrapFinished, BootstrapFailed, endpoint="dev1")
            await client.start()
            event = await done
        """

        def wanted(event: BootstrapEvent) -> bool:
            return isinstance(event, kinds) and (endpoint is None or event.endpoint == endpoint)

        return self._events.wait_for(wanted, timeout)
