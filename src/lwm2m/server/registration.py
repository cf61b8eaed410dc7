"""The server side of the Client Registration Interface, without I/O.

Theory of operation
-------------------
LwM2M Core TS 1.1 section 6.2 (1.0.2 section 5.3) defines three client requests:

* Register, ``POST /rd?ep=..&lt=..&lwm2m=..&b=..&Q&sms=..`` with the object links
  in CoRE Link Format (Content-Format 40). The server answers 2.01 and a Location
  ``/rd/<id>``; :meth:`RegistrationTable.register` validates everything and returns
  a :class:`Registered` event carrying the new :class:`Registration`.
* Update, ``POST /rd/<id>?lt=..&b=..&Q&sms=..`` with an optional new link list:
  only the parameters present change (:meth:`RegistrationTable.update`).
* De-register, ``DELETE /rd/<id>`` (:meth:`RegistrationTable.deregister`).

A registration not refreshed within ``lifetime`` (plus a grace period) is removed
by :meth:`RegistrationTable.expire`, which the shell calls from a timer.

Nothing here reads a clock or a socket: the caller passes ``now`` (POSIX seconds,
so stored times stay meaningful across a restart) and the peer address. Errors
are raised as :class:`~lwm2m.errors.OperationError` subclasses whose ``code`` is
the CoAP response to send (Transport TS 1.1 Table 6.7-2: 4.00, 4.03, 4.04, 4.12;
4.15 for a payload that is not link format, RFC 7252 section 5.9.2.9). A request
that fails leaves the table and its store exactly as they were.

Every change is written through to an optional :class:`~lwm2m.server.store.ServerStore`
before the in-memory index changes, so a store failure also leaves things unchanged.

Endpoint names
--------------
Names are kept exactly as the client sent them, but two names are the same
endpoint when their normalised forms are equal (:func:`normalise_endpoint`:
Unicode NFKC, then case folding, then leading and trailing white space
removed), and they are too much alike to coexist when their skeletons are
equal (:func:`endpoint_skeleton`: the normalised form after mapping the
Cyrillic and Greek letters that look like Latin ones to those, so that
``pskdev`` spelled with U+0435 CYRILLIC SMALL LETTER IE for the ``e`` is
``pskdev``). The skeleton is used for these comparisons only; nothing is
renamed. What an operator can rely on:

* No two registrations whose names look alike exist at the same time, so a
  name on a dashboard or in a log always means one device.
* An endpoint with security info in the store (a PSK, certificate or raw key
  bound to it; ``--psk`` of ``lwm2m server``) cannot be shadowed: a name
  that looks like it but is spelled differently is refused with 4.03, over
  plain UDP and over DTLS alike, whatever the identity; the exact name is
  the business of ``authorize`` (:class:`IdentityBinding`: only its identity).
* A device always gets back in under its own name: the exact name registers
  again as before (reboot, new port, new DTLS session) and replaces its old
  registration. The same client may even change the spelling (case, white
  space) of its name: a name that compares equal to a registered one is
  accepted from the address of that registration with the same DTLS
  identity (none for plain UDP), and replaces it. From anywhere else it is
  4.03: a second device under a name that looks the same.
* The device that owns security info for its exact name wins: when it
  registers (``authorize`` passed), a look-alike registration made before
  the security info existed is replaced by it (:attr:`Registered.replaced`).
  Names that the operator gave security info to are trusted as they are:
  two of them that look alike may both register.

Names with control characters (Unicode categories Cc and Cf, which include
bidirectional controls such as U+202E RIGHT-TO-LEFT OVERRIDE, U+200E
LEFT-TO-RIGHT MARK and the isolates U+2066..U+2069, which make a name display
differently from what it is), other unprintable
characters, or nothing but white space are refused with 4.00 Bad Request.
Of the answers the registration interface allows (the table cited above),
4.00 is for a request whose parameters are missing, unknown or malformed,
and 4.03 Forbidden for "the Endpoint Client Name registration in the LwM2M
Server is not allowed", a policy refusal of a well-formed name (the
collisions above). A name with control characters is not well formed: it
cannot be shown or compared faithfully.

Security info is looked up in the store. Listing it can be slow (an SQLite
store decodes every row), so the skeletons of the secured names are cached
for ``security_refresh`` seconds of the ``now`` the caller passes;
:meth:`RegistrationTable.security_changed` drops the cache at once (call it
after changing security info). A look-alike that registers while the cache is
stale is replaced when the secured device registers.
"""

from __future__ import annotations

import dataclasses
import heapq
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from lwm2m.coap.numbers import Code
from lwm2m.errors import (
    BadRequest,
    DecodeError,
    NotFound,
    OperationError,
    UnsupportedContentFormat,
)
from lwm2m.server.object_links import ObjectLinks, parse_object_links
from lwm2m.server.store.base import Address, Registration

if TYPE_CHECKING:
    from lwm2m.server.store import ServerStore

__all__ = [
    "DEFAULT_LIFETIME",
    "SUPPORTED_VERSIONS",
    "Deregistered",
    "Expired",
    "IdentityBinding",
    "Registered",
    "Registration",
    "RegistrationEvent",
    "RegistrationTable",
    "Updated",
    "endpoint_skeleton",
    "normalise_endpoint",
]

#: Lifetime when the client sends no ``lt`` (Core TS 1.1 Table 6.2.1-1).
DEFAULT_LIFETIME = 86400
#: Lifetime is an unsigned 32-bit value on the wire of most clients; larger is refused.
MAX_LIFETIME = 0xFFFFFFFF
#: Enabler versions this server accepts (Core TS 1.1 section 6.2.1: refuse others).
SUPPORTED_VERSIONS: tuple[str, ...] = ("1.0", "1.1", "1.2")
LINK_FORMAT = 40

_VERSION_RE = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}")  # 1*DIGIT "." 1*DIGIT
_DIGITS_RE = re.compile(r"[0-9]{1,10}")
# LwM2M 1.0 binding modes (1.0.2 Table 20), mapped to (transports, queue mode).
_BINDINGS_1_0: dict[str, tuple[str, bool]] = {
    "U": ("U", False),
    "UQ": ("U", True),
    "S": ("S", False),
    "SQ": ("S", True),
    "US": ("US", False),
    "UQS": ("US", True),
}
# From 1.1 the binding is a set of transport letters and queue mode is the "Q"
# parameter: U UDP, T TCP, S SMS, N Non-IP; 1.2 adds M (MQTT) and H (HTTP).
_BINDING_LETTERS = {(1, 1): frozenset("UTSN"), (1, 2): frozenset("UTSNMH")}
_REGISTER_PARAMS = frozenset({"ep", "lt", "lwm2m", "b", "Q", "sms"})
_UPDATE_PARAMS = frozenset({"lt", "b", "Q", "sms"})


# --- events ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Registered:
    registration: Registration
    #: The registration this one replaced, if any: the same endpoint's, or one
    #: whose name compares equal or alike (see "Endpoint names" in the module).
    replaced: Registration | None = None


@dataclass(frozen=True, slots=True)
class Updated:
    previous: Registration
    registration: Registration

    @property
    def changed(self) -> frozenset[str]:
        """Names of the fields the Update changed, timestamps aside."""
        skip = {"last_update", "expires_at"}
        return frozenset(
            f.name
            for f in dataclasses.fields(Registration)
            if f.name not in skip
            and getattr(self.previous, f.name) != getattr(self.registration, f.name)
        )


@dataclass(frozen=True, slots=True)
class Deregistered:
    registration: Registration


@dataclass(frozen=True, slots=True)
class Expired:
    registration: Registration


RegistrationEvent = Registered | Updated | Deregistered | Expired


# --- endpoint names ----------------------------------------------------------------

# Cyrillic and Greek letters whose usual glyphs cannot be told from Latin ones,
# mapped to those (applied after NFKC, before case folding, so that each case
# maps to what it looks like: Greek capital Nu is N, small nu is v).
_LOOKALIKES = str.maketrans(
    {
        # Cyrillic capitals
        "\u0405": "S",  # DZE
        "\u0406": "I",  # BYELORUSSIAN-UKRAINIAN I
        "\u0407": "\u00cf",  # YI: I with diaeresis
        "\u0408": "J",  # JE
        "\u0401": "\u00cb",  # IO: E with diaeresis
        "\u0410": "A",
        "\u0412": "B",  # VE
        "\u0415": "E",  # IE
        "\u0417": "3",  # ZE
        "\u041a": "K",  # KA
        "\u041c": "M",  # EM
        "\u041d": "H",  # EN
        "\u041e": "O",
        "\u0420": "P",  # ER
        "\u0421": "C",  # ES
        "\u0422": "T",  # TE
        "\u0423": "Y",  # U
        "\u0425": "X",  # HA
        "\u04ae": "Y",  # STRAIGHT U
        "\u04ba": "H",  # SHHA
        "\u04c0": "I",  # PALOCHKA
        "\u0500": "D",  # KOMI DE
        "\u051a": "Q",  # QA
        "\u051c": "W",  # WE
        # Cyrillic small letters
        "\u0430": "a",
        "\u0435": "e",  # ie
        "\u043e": "o",
        "\u0440": "p",  # er
        "\u0441": "c",  # es
        "\u0443": "y",  # u
        "\u0445": "x",  # ha
        "\u0451": "\u00eb",  # io: e with diaeresis
        "\u0455": "s",  # dze
        "\u0456": "i",  # byelorussian-ukrainian i
        "\u0457": "\u00ef",  # yi: i with diaeresis
        "\u0458": "j",  # je
        "\u04af": "y",  # straight u
        "\u04bb": "h",  # shha
        "\u04cf": "l",  # palochka
        "\u0501": "d",  # komi de
        "\u051b": "q",  # qa
        "\u051d": "w",  # we
        # Greek capitals
        "\u0391": "A",  # ALPHA
        "\u0392": "B",  # BETA
        "\u0395": "E",  # EPSILON
        "\u0396": "Z",  # ZETA
        "\u0397": "H",  # ETA
        "\u0399": "I",  # IOTA
        "\u039a": "K",  # KAPPA
        "\u039c": "M",  # MU
        "\u039d": "N",  # NU
        "\u039f": "O",  # OMICRON
        "\u03a1": "P",  # RHO
        "\u03a4": "T",  # TAU
        "\u03a5": "Y",  # UPSILON
        "\u03a7": "X",  # CHI
        "\u037f": "J",  # YOT
        # Greek small letters
        "\u03b1": "a",  # alpha
        "\u03b9": "i",  # iota
        "\u03bd": "v",  # nu
        "\u03bf": "o",  # omicron
        "\u03c1": "p",  # rho
        "\u03c5": "u",  # upsilon
        "\u03c7": "x",  # chi
        "\u03f3": "j",  # yot
    }
)


def normalise_endpoint(name: str) -> str:
    """The form in which endpoint names are compared: NFKC, case folded, stripped."""
    return unicodedata.normalize("NFKC", name).casefold().strip()


def endpoint_skeleton(name: str) -> str:
    """:func:`normalise_endpoint` after mapping Cyrillic and Greek look-alikes to Latin.

    Two names with the same skeleton look the same to a reader; it serves the
    collision checks only (see "Endpoint names" in the module docstring).
    """
    mapped = unicodedata.normalize("NFKC", name).translate(_LOOKALIKES)
    return unicodedata.normalize("NFKC", mapped.casefold()).strip()


_CONTROL_CATEGORIES = frozenset(("Cc", "Cf"))


def _endpoint_name(value: str | None) -> str:
    """The ``ep`` parameter, refused with 4.00 when it is not a name one can show."""
    if value:
        for ch in value:
            if unicodedata.category(ch) in _CONTROL_CATEGORIES:
                raise BadRequest(
                    f"endpoint name contains the control character U+{ord(ch):04X}"
                    f" ({unicodedata.name(ch, 'unnamed')})"
                )
    name = _text("ep", value)
    if not normalise_endpoint(name):
        raise BadRequest("endpoint name is only white space")
    return name


def _secured_lookalike(bound: Iterator[str], endpoint: str, skeleton: str) -> str | None:
    """The first of ``bound`` spelled differently from ``endpoint`` with its skeleton."""
    for name in bound:
        if name != endpoint and endpoint_skeleton(name) == skeleton:
            return name
    return None


# --- identity check ------------------------------------------------------------


def _lookup(source: Mapping[str, str] | Callable[[str], str | None], key: str) -> str | None:
    return source.get(key) if isinstance(source, Mapping) else source(key)


class IdentityBinding:
    """Which DTLS identity may register which endpoint (answer 4.03 otherwise).

    ``identity_to_endpoint`` maps a PSK identity (or certificate subject) to the
    one endpoint it may register, spelled exactly. ``endpoint_to_identity``,
    when given, maps an endpoint to the identity it must use: an endpoint with
    security info then cannot register unsecured or under another identity.

    Where these are mappings, the bound endpoint names are known, and a name
    spelled differently from a bound one but alike (same
    :func:`endpoint_skeleton`: ``PSKDEV``, ``pskdev `` or ``pskdev`` with a
    Cyrillic ``e`` for ``pskdev``) is refused whatever the identity. Lookup
    functions cannot be enumerated; the :class:`RegistrationTable` checks the
    security info of its store in the same way.
    """

    __slots__ = ("_by_endpoint", "_by_identity")

    def __init__(
        self,
        identity_to_endpoint: Mapping[str, str] | Callable[[str], str | None],
        endpoint_to_identity: Mapping[str, str] | Callable[[str], str | None] | None = None,
    ) -> None:
        self._by_identity = identity_to_endpoint
        self._by_endpoint = endpoint_to_identity

    def bound_endpoints(self) -> Iterator[str]:
        """The endpoint names bound to an identity, as far as mappings tell."""
        if isinstance(self._by_endpoint, Mapping):
            yield from self._by_endpoint
        if isinstance(self._by_identity, Mapping):
            yield from self._by_identity.values()

    def __call__(self, endpoint: str, identity: str | None) -> bool:
        bound: str | None = None
        if identity is not None:
            bound = _lookup(self._by_identity, identity)
            if bound is not None and bound != endpoint:
                return False
        required: str | None = None
        if self._by_endpoint is not None:
            required = _lookup(self._by_endpoint, endpoint)
            if required is not None and required != identity:
                return False
        enumerable = isinstance(self._by_endpoint, Mapping) or isinstance(
            self._by_identity, Mapping
        )
        if bound is None and required is None and enumerable:
            # Not a bound name itself: it must not look like one.
            skeleton = endpoint_skeleton(endpoint)
            if _secured_lookalike(self.bound_endpoints(), endpoint, skeleton) is not None:
                return False
        return True


# --- parameter parsing -------------------------------------------------------------


@dataclass(slots=True)
class _Params:
    endpoint: str | None = None
    lifetime: int | None = None
    version: str | None = None
    binding: str | None = None
    queue: bool = False
    sms: str | None = None
    extra: list[tuple[str, str | None]] = dataclasses.field(default_factory=list)


def _split_query(query: Sequence[str]) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for item in query:
        if not isinstance(item, str):
            raise BadRequest(f"query parameter {item!r} is not text")
        key, sep, value = item.partition("=")
        if not key:
            raise BadRequest(f"query parameter {item!r} has no name")
        if key in params:
            raise BadRequest(f"query parameter {key!r} given more than once")
        params[key] = value if sep else None
    return params


def _text(key: str, value: str | None) -> str:
    if not value:
        raise BadRequest(f"query parameter {key!r} needs a value")
    if not value.isprintable():
        raise BadRequest(f"query parameter {key!r} contains control characters")
    return value


def _lifetime(value: str | None) -> int:
    if value is None or not _DIGITS_RE.fullmatch(value):
        raise BadRequest(f"lifetime {value!r} is not a positive integer")
    lifetime = int(value)
    if not 1 <= lifetime <= MAX_LIFETIME:
        raise BadRequest(f"lifetime {lifetime} out of range 1..{MAX_LIFETIME}")
    return lifetime


def _version(value: str | None, supported: Sequence[str]) -> str:
    if value is None or not _VERSION_RE.fullmatch(value):
        raise BadRequest(f"LwM2M version {value!r} is not of the form major.minor")
    major, minor = (int(p) for p in value.split("."))
    normal = f"{major}.{minor}"
    if normal not in supported:
        # Core TS 1.1 section 6.2.1: a server MUST refuse a version it does not support.
        raise OperationError(
            f"LwM2M version {value} is not supported (supported: {', '.join(supported)})",
            code=Code.PRECONDITION_FAILED,
        )
    return normal


def _binding(value: str | None, version: str) -> tuple[str, bool]:
    """Return (transport letters, queue mode) for a ``b`` value under ``version``."""
    if not value:
        raise BadRequest("binding 'b' needs a value")
    if version == "1.0":
        if value not in _BINDINGS_1_0:
            raise BadRequest(f"binding {value!r} is not a LwM2M 1.0 binding mode")
        return _BINDINGS_1_0[value]
    major, minor = (int(p) for p in version.split("."))
    allowed = _BINDING_LETTERS.get((major, minor), _BINDING_LETTERS[(1, 2)])
    if any(ch not in allowed for ch in value) or len(set(value)) != len(value):
        raise BadRequest(
            f"binding {value!r} is not valid for LwM2M {version} "
            f"(letters {''.join(sorted(allowed))}, each at most once)"
        )
    return value, False


def _parse_params(
    query: Sequence[str],
    known: frozenset[str],
    *,
    keep_unknown: bool,
) -> tuple[_Params, str | None]:
    """Parse the query; return the params and the raw ``b`` value (checked later)."""
    raw = _split_query(query)
    params = _Params()
    binding: str | None = None
    for key, value in raw.items():
        if key not in known:
            if key in _REGISTER_PARAMS or not keep_unknown:
                raise BadRequest(f"unknown query parameter {key!r}")
            params.extra.append((key, value))
        elif key == "ep":
            params.endpoint = _endpoint_name(value)
        elif key == "lt":
            params.lifetime = _lifetime(value)
        elif key == "sms":
            params.sms = _text(key, value)
        elif key == "Q":
            if value is not None:
                raise BadRequest("queue mode 'Q' takes no value")
            params.queue = True
        elif key == "b":
            binding = value if value is not None else ""
        elif key == "lwm2m":
            params.version = value if value is not None else ""
    return params, binding


def _object_links(payload: bytes, content_format: int | None, *, strict: bool) -> ObjectLinks:
    if content_format is None and strict:
        raise UnsupportedContentFormat("the object links payload needs Content-Format 40")
    if content_format is not None and content_format != LINK_FORMAT:
        # Core TS 1.1.1 section 6.2.1: the payload MUST be application/link-format.
        raise UnsupportedContentFormat(
            f"object links must be application/link-format (40), not {content_format}"
        )
    try:
        return parse_object_links(payload)
    except DecodeError as exc:
        raise BadRequest(f"invalid object links: {exc}") from None


def _default_id() -> str:
    return secrets.token_urlsafe(6)


# --- the table ------------------------------------------------------------------------


class RegistrationTable:
    """All current registrations, indexed by id and by endpoint name.

    ``authorize(endpoint, identity)`` returning False answers 4.03 (see
    :class:`IdentityBinding`). ``keep_unknown_params`` stores query parameters the
    server does not know in :attr:`Registration.extra`; with False they answer
    4.00 as Core TS Table 6.2.1 reads strictly. ``strict_content_format`` refuses
    a payload that carries no Content-Format option. Names are compared as the
    module docstring's "Endpoint names" describes; ``security_refresh`` is how
    long (in the ``now`` of the calls) the skeletons of the names with
    security info in the store are cached.
    """

    def __init__(
        self,
        *,
        store: ServerStore | None = None,
        grace: float = 30.0,
        supported_versions: Sequence[str] = SUPPORTED_VERSIONS,
        authorize: Callable[[str, str | None], bool] | None = None,
        keep_unknown_params: bool = True,
        strict_content_format: bool = False,
        id_factory: Callable[[], str] = _default_id,
        security_refresh: float = 10.0,
    ) -> None:
        self._store = store
        self._security_refresh = security_refresh
        # skeleton -> names with security info in the store, and when it was read
        self._secured: dict[str, list[str]] | None = None
        self._secured_at = 0.0
        self._grace = grace
        self._versions = tuple(supported_versions)
        self._authorize = authorize
        self._keep_unknown = keep_unknown_params
        self._strict_cf = strict_content_format
        self._new_id = id_factory
        self._by_id: dict[str, Registration] = {}
        self._by_endpoint: dict[str, str] = {}
        # endpoint_skeleton(name) -> id of the registration under a name alike
        self._by_skeleton: dict[str, str] = {}
        # address -> {registration id: registration order}, for Send (who is this?)
        self._by_address: dict[Address, dict[str, int]] = {}
        self._order: dict[str, int] = {}
        self._next_order = 0
        # (expires_at, id) min-heap for next_expiry/expire in O(log n). An entry is
        # stale once its registration is gone or has a new expiry time; stale entries
        # are dropped when they reach the top, or all at once when they outnumber
        # the live ones.
        self._expiries: list[tuple[float, str]] = []
        if store is not None:
            for reg in store.list_registrations():
                self._index(reg)

    # --- lookups ---------------------------------------------------------------
    def get(self, reg_id: str) -> Registration | None:
        return self._by_id.get(reg_id)

    def get_by_endpoint(self, endpoint: str) -> Registration | None:
        reg_id = self._by_endpoint.get(endpoint)
        return None if reg_id is None else self._by_id[reg_id]

    def get_alike(self, endpoint: str) -> Registration | None:
        """The registration whose name looks like ``endpoint`` (same skeleton), if any."""
        reg_id = self._by_skeleton.get(endpoint_skeleton(endpoint))
        return None if reg_id is None else self._by_id.get(reg_id)

    def security_changed(self) -> None:
        """Security info in the store changed: read it again at the next Register."""
        self._secured = None

    def all(self) -> list[Registration]:
        return list(self._by_id.values())

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[Registration]:
        return iter(list(self._by_id.values()))

    def at_address(self, address: Address) -> list[Registration]:
        """The registrations whose last Register/Update came from ``address``, oldest
        registration first."""
        ids = self._by_address.get(address)
        if not ids:
            return []
        return [self._by_id[i] for i in sorted(ids, key=ids.__getitem__)]

    def next_expiry(self) -> float | None:
        """The earliest expiry time, for the shell's timer (None when empty)."""
        heap = self._expiries
        while heap and not self._live(heap[0]):
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    # --- operations -------------------------------------------------------------
    def register(
        self,
        query: Sequence[str],
        payload: bytes,
        content_format: int | None,
        remote: Address,
        now: float,
        identity: str | None = None,
    ) -> Registered:
        params, raw_binding = _parse_params(
            query, _REGISTER_PARAMS, keep_unknown=self._keep_unknown
        )
        if params.endpoint is None:
            raise BadRequest("Register needs the endpoint client name 'ep'")
        # lwm2m became mandatory with 1.0; clients from before send none (taken as 1.0).
        version = _version("1.0" if params.version is None else params.version, self._versions)
        binding, queue = ("U", False) if raw_binding is None else _binding(raw_binding, version)
        if not payload:
            # "Objects and Object Instances" is a mandatory Register parameter.
            raise BadRequest("Register needs the object links list in the payload")
        links = _object_links(payload, content_format, strict=self._strict_cf)
        if self._authorize is not None and not self._authorize(params.endpoint, identity):
            raise OperationError(
                f"endpoint {params.endpoint!r} may not register with this identity",
                code=Code.FORBIDDEN,
            )
        displaced = self._check_name(params.endpoint, identity, remote, now)
        lifetime = DEFAULT_LIFETIME if params.lifetime is None else params.lifetime
        reg = Registration(
            id=self._unused_id(),
            endpoint=params.endpoint,
            lifetime=lifetime,
            version=version,
            binding=binding,
            queue_mode=queue or params.queue,
            sms_number=params.sms,
            object_links=links,
            address=remote,
            registered_at=now,
            last_update=now,
            expires_at=now + lifetime + self._grace,
            identity=identity,
            extra=tuple(params.extra),
        )
        replaced = self.get_by_endpoint(reg.endpoint)
        if displaced is not None:
            replaced = displaced
        store = self._store
        if store is not None:
            store.put_registration(reg)
            if displaced is not None:
                try:
                    store.delete_registration(displaced.id)
                except BaseException:
                    store.delete_registration(reg.id)
                    raise
        if replaced is not None:
            self._unindex(replaced)
        self._index(reg)
        return Registered(reg, replaced)

    def update(
        self,
        reg_id: str,
        query: Sequence[str],
        payload: bytes,
        content_format: int | None,
        remote: Address,
        now: float,
        identity: str | None = None,
    ) -> Updated:
        """Apply an Update. A registration made under a DTLS identity only accepts
        Updates from that identity; any other answers 4.04 like an unknown id."""
        previous = self._owned(reg_id, identity)
        params, raw_binding = _parse_params(query, _UPDATE_PARAMS, keep_unknown=self._keep_unknown)
        binding, queue = previous.binding, previous.queue_mode
        if raw_binding is not None:
            binding, binding_queue = _binding(raw_binding, previous.version)
            if previous.version == "1.0":
                queue = binding_queue  # 1.0 carries queue mode inside the binding
        links = previous.object_links
        if payload:
            links = _object_links(payload, content_format, strict=self._strict_cf)
        extra = previous.extra
        if params.extra:
            extra = tuple({**dict(previous.extra), **dict(params.extra)}.items())
        lifetime = previous.lifetime if params.lifetime is None else params.lifetime
        reg = dataclasses.replace(
            previous,
            lifetime=lifetime,
            binding=binding,
            queue_mode=queue or params.queue,
            sms_number=previous.sms_number if params.sms is None else params.sms,
            object_links=links,
            address=remote,
            last_update=now,
            expires_at=now + lifetime + self._grace,
            extra=extra,
        )
        if self._store is not None:
            self._store.put_registration(reg)
        self._by_id[reg.id] = reg
        if reg.address != previous.address:
            self._unindex_address(previous)
            self._index_address(reg)
        self._push_expiry(reg)
        return Updated(previous, reg)

    def deregister(self, reg_id: str, identity: str | None = None) -> Deregistered:
        reg = self._owned(reg_id, identity)
        self._remove(reg)
        return Deregistered(reg)

    def expire(self, now: float) -> list[Expired]:
        """Remove every registration whose expiry time has passed, earliest first."""
        events = []
        heap = self._expiries
        while heap and heap[0][0] <= now:
            entry = heap[0]
            if self._live(entry):
                reg = self._by_id[entry[1]]
                self._remove(reg)  # a store failure leaves the entry in place
                events.append(Expired(reg))
            heapq.heappop(heap)
        return events

    # --- a store shared with other servers ---------------------------------------
    # Another server wrote or removed a registration in the shared store: the index
    # follows without writing to the store (see lwm2m.server.cluster).
    def mirror(self, reg: Registration) -> Registration | None:
        """Index ``reg`` as the store holds it; returns the registration of the same
        endpoint under another id that it replaced, if any."""
        replaced = None
        old_id = self._by_endpoint.get(reg.endpoint)
        if old_id is not None and old_id != reg.id:
            replaced = self._by_id.get(old_id)
            if replaced is not None:
                self._unindex(replaced)
        previous = self._by_id.get(reg.id)
        if previous is not None and previous.endpoint != reg.endpoint:
            self._unindex(previous)
            previous = None
        if previous is None:
            self._index(reg)
        else:
            self._by_id[reg.id] = reg
            if reg.address != previous.address:
                self._unindex_address(previous)
                self._index_address(reg)
            self._push_expiry(reg)
        return replaced

    def forget(self, reg_id: str) -> Registration | None:
        """Drop a registration from the index only; the one dropped, if any."""
        reg = self._by_id.get(reg_id)
        if reg is not None:
            self._unindex(reg)
        return reg

    def take_due(self, now: float) -> list[Registration]:
        """Drop from the index (not from the store) every registration whose expiry
        time has passed, earliest first, and return them."""
        due = []
        heap = self._expiries
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if self._live(entry):
                reg = self._by_id[entry[1]]
                self._unindex(reg)
                due.append(reg)
        return due

    # --- internals ------------------------------------------------------------
    def _check_name(
        self, endpoint: str, identity: str | None, remote: Address, now: float
    ) -> Registration | None:
        """Refuse a name alike another with 4.03; return the registration it displaces.

        The displaced registration is one under another spelling of an alike
        name, from the same client, or a look-alike of a name with security info
        that registers now (see "Endpoint names" in the module docstring).
        """
        skeleton = endpoint_skeleton(endpoint)
        names = self._secured_names(now).get(skeleton, ())
        others = [name for name in names if name != endpoint]
        reg_id = self._by_skeleton.get(skeleton)
        existing = None if reg_id is None else self._by_id.get(reg_id)
        differs = existing is not None and existing.endpoint != endpoint
        holder = endpoint in names
        if not holder and (others or differs):
            holder = self._still_secured(endpoint)  # the cache may be older than it
        if not holder:
            for name in others:
                if self._still_secured(name):
                    raise OperationError(
                        f"endpoint name {endpoint!r} is too much like {name!r}, "
                        "which has security info",
                        code=Code.FORBIDDEN,
                    )
                self._secured = None  # stale: read again next time
        if existing is None or not differs:
            return None
        if holder:
            if self._still_secured(existing.endpoint):
                return None  # both names have security info: the operator's choice
            return existing  # the owner of security info for this name wins
        if existing.address == remote and existing.identity == identity:
            return existing  # the same client, spelling its name differently
        raise OperationError(
            f"endpoint name {endpoint!r} is too much like the registered {existing.endpoint!r}",
            code=Code.FORBIDDEN,
        )

    def _secured_names(self, now: float) -> dict[str, list[str]]:
        """Skeleton -> names with security info in the store (cached, see the class)."""
        store = self._store
        if store is None:
            return {}
        secured = self._secured
        if secured is None or not 0 <= now - self._secured_at < self._security_refresh:
            secured = {}
            for info in store.list_security():
                secured.setdefault(endpoint_skeleton(info.endpoint), []).append(info.endpoint)
            self._secured = secured
            self._secured_at = now
        return secured

    def _still_secured(self, endpoint: str) -> bool:
        store = self._store
        return store is not None and store.get_security(endpoint) is not None

    def _owned(self, reg_id: str, identity: str | None) -> Registration:
        reg = self._by_id.get(reg_id)
        if reg is None or (reg.identity is not None and reg.identity != identity):
            raise NotFound(f"no registration {reg_id!r}")
        return reg

    def _unused_id(self) -> str:
        for _ in range(16):
            candidate = self._new_id()
            if candidate and candidate not in self._by_id:
                return candidate
        raise OperationError(
            "could not allocate a registration id", code=Code.INTERNAL_SERVER_ERROR
        )

    def _index(self, reg: Registration) -> None:
        old = self._by_id.get(reg.id)
        if old is not None:
            self._unindex_address(old)
        self._by_id[reg.id] = reg
        self._by_endpoint[reg.endpoint] = reg.id
        self._by_skeleton[endpoint_skeleton(reg.endpoint)] = reg.id
        self._order[reg.id] = self._next_order
        self._next_order += 1
        self._index_address(reg)
        self._push_expiry(reg)

    def _unindex(self, reg: Registration) -> None:
        current = self._by_id.pop(reg.id, None)
        if current is not None:
            self._unindex_address(current)
        self._order.pop(reg.id, None)
        if self._by_endpoint.get(reg.endpoint) == reg.id:
            del self._by_endpoint[reg.endpoint]
        skeleton = endpoint_skeleton(reg.endpoint)
        if self._by_skeleton.get(skeleton) == reg.id:
            del self._by_skeleton[skeleton]

    def _index_address(self, reg: Registration) -> None:
        self._by_address.setdefault(reg.address, {})[reg.id] = self._order[reg.id]

    def _unindex_address(self, reg: Registration) -> None:
        ids = self._by_address.get(reg.address)
        if ids is not None:
            ids.pop(reg.id, None)
            if not ids:
                del self._by_address[reg.address]

    def _live(self, entry: tuple[float, str]) -> bool:
        reg = self._by_id.get(entry[1])
        return reg is not None and reg.expires_at == entry[0]

    def _push_expiry(self, reg: Registration) -> None:
        heap = self._expiries
        heapq.heappush(heap, (reg.expires_at, reg.id))
        if len(heap) > 2 * len(self._by_id) + 64:
            heap[:] = [(r.expires_at, r.id) for r in self._by_id.values()]
            heapq.heapify(heap)

    def _remove(self, reg: Registration) -> None:
        if self._store is not None:
            self._store.delete_registration(reg.id)
        self._unindex(reg)
