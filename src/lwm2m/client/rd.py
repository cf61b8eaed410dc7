"""Registration and bootstrap state machines of the LwM2M client (sans-IO).

Theory of operation
===================

This module decides *when* the client talks to *which* server and *what* it
sends; it never touches a socket, a clock or the event loop. The asyncio shell
feeds it inputs (method calls carrying the current time ``now``, in seconds of
any monotonic clock) and executes the actions each call returns, in order:

* :class:`SendRegister`, :class:`SendUpdate`, :class:`SendDeregister`,
  :class:`SendBootstrapRequest` -- build the CoAP request (the Uri-Query list
  is ready; Register/Update carry the object links when ``object_links``; open
  the connection first if it is closed) and report the outcome with the
  action's ``token``: :meth:`response`,
  :meth:`timeout` (no answer after the CoAP retransmissions) or
  :meth:`network_error` (ICMP unreachable, socket or DTLS error);
* :class:`SetTimer` / :class:`CancelTimer` -- one timer per (server, name);
  a new deadline replaces the previous one; at the deadline call
  :meth:`timer_fired`. A timer fired after it was cancelled is ignored;
* :class:`CloseConnection` -- drop the socket/DTLS session to that server;
* :class:`SaveConfig` / :class:`RestoreConfig` -- snapshot the Security and
  Server objects before a bootstrap, put the snapshot back when it fails;
* :class:`AnswerFinish` -- the code to answer a Bootstrap-Finish with;
* :class:`~lwm2m.client.events.Event` -- hand to the application.

Registration (one :class:`RegistrationMachine` per server account, Core TS
1.1 section 6.2)::

    IDLE --start--> REGISTERING --2.01 + Location--> REGISTERED <--2.04-- UPDATING
                      |      ^                        |      |             ^   |
              failure v      | RETRY timer            |      +--due, ------+   | 5.xx, timeout,
                   WAIT_REGISTER                      |         change,    |   | network error
                                             RX timer |         /1/x/8     |   v
                                             (queue)  v                    |  UPDATE_BACKOFF
                                                   SLEEPING --wake-up, ----+  (RETRY timer: Update
                                                              due             again; lifetime over:
                                                                              REG_TIMEOUT, Register)

    Register answered 4.12: Register at once with the next lower LwM2M version.
    Procedure exhausted (/1/x/19 MAX_VALUE, /1/x/20 sequences): FAILED, no more attempts.
    Update answered 4.04 (or another 4.xx): Register at once (int-105).
    Disable (/1/x/4): De-register (DISABLING) -> DISABLED -> Register after the timeout.
    stop(deregister=True): De-register (DEREGISTERING) -> IDLE; stop() from anywhere -> IDLE.
    Local address changed, queue mode switched (1.1): Register at once.

An Update carries only what the server does not know yet: the parameters that
differ from those of the last successful Register/Update, and the object links
only when objects or instances were added or removed since. Updates are due at
``max(lifetime - update_margin, lifetime / 2)`` after the last success.

A failed Register follows the registration procedure of Core TS 1.1 6.2.1.1
with the account's Server object resources: up to Communication Retry Count
(/1/x/17) attempts form a sequence, Communication Retry Timer (/1/x/18) * 2**(n-1)
apart; sequences are Communication Sequence Delay Timer (/1/x/19) apart; after
Communication Sequence Retry Count (/1/x/20) sequences the registration has
failed (FAILED: no further attempt). Resources the server does not set take
the spec's defaults (5 attempts, one sequence before the failure is reported)
except the two timers: 60 s doubling and a day between sequences would leave a
server that came back unreached for hours, so the client's bounded back-off
(:class:`RetryPolicy`: exponential, capped at 45 s, jittered, counted from the
start of the failed attempt) stands in and the attempts never stop, which
keeps a device registered again within a minute of its server's return. An
explicit 4.xx fails the registration at once. A failed registration is
reported (REGISTRATION_FAILURE) on every further failure, and
:attr:`RegistrationMachine.exhausted` tells the :class:`RdCoordinator` that it
may fall back to bootstrap (int-7; /1/x/16 "Bootstrap on Registration Failure").
An explicit :attr:`ClientSettings.retry` replaces the procedure by its policy.
A Register answered 4.12 Precondition Failed (LwM2M version not supported) is
sent again at once with the next lower version (1.2 -> 1.1 -> 1.0); only when
none is accepted is it a failure. Updates then carry the accepted version.

Bootstrap (one :class:`BootstrapMachine`, Core TS 1.1 section 6.1)::

    IDLE --start--> WAIT_REQUEST --RETRY timer (hold-off /0/x/11)--> REQUESTING
                       ^                                               | 2.04
                       | failure, back-off                             v
                       +---- 4.xx/5.xx/timeout, no Finish in time --- BOOTSTRAPPING
                             Finish with an inconsistent config (4.06)  | Finish, config valid
                                                                        v
                                                                       DONE

    A bootstrap operation arriving in WAIT_REQUEST starts BOOTSTRAPPING at once.
    Server-initiated bootstrap (6.1.3, with ``server_initiated_bootstrap``): the
    same from IDLE or DONE; when such a session fails, the configuration is
    restored and the machine goes back where it was. The connection to the
    Bootstrap-Server then stays open after Finish, so that it can reach the client.

The transitions of both machines are the two tables below
(:data:`REGISTRATION_TABLE`, :data:`BOOTSTRAP_TABLE`): ``(state, input) ->
Rule(step, targets)``. ``step`` names the method that produces the actions,
``targets`` the states it may end in. An input whose pair is not in the table
makes no sense in that state and is ignored with a log line; a response that
does not match the request in flight (stale token) is ignored the same way.
Responses that do match are classified first (:class:`Input`): the expected
success code, 4.04, another 4.xx or unexpected code (including a 2.01 without
a usable Location-Path), 5.xx -- so garbage becomes a failure, never an
exception. After each step the timers that the new state does not use are
cancelled (:data:`REGISTRATION_TIMERS`, :data:`BOOTSTRAP_TIMERS`).

:class:`RdCoordinator` holds the machines of one client: it starts the
registrations (or the bootstrap when there is no server account), routes
inputs by Short Server ID (``None`` is the bootstrap server), falls back to
bootstrap when every registration is exhausted, and creates the registration
machines from the Security/Server values written by a successful bootstrap
(checked and turned into :class:`ServerAccount` values by
:mod:`lwm2m.client.accounts`, re-exported here).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, TypeAlias

from lwm2m.client.accounts import (
    DEFAULT_DISABLE_TIMEOUT,
    DEFAULT_LIFETIME,
    NO_MORE_SEQUENCES,
    ObjectValues,
    ServerAccount,
    check_bootstrap_config,
    server_accounts,
)
from lwm2m.client.events import Event, RdEvent
from lwm2m.errors import DecodeError

__all__ = [
    "BOOTSTRAP_TABLE",
    "DEFAULT_DISABLE_TIMEOUT",
    "DEFAULT_LIFETIME",
    "REGISTRATION_TABLE",
    "Action",
    "AnswerFinish",
    "BootstrapMachine",
    "BsState",
    "CancelTimer",
    "ClientSettings",
    "CloseConnection",
    "Input",
    "OpenConnection",
    "RdCoordinator",
    "RegState",
    "RegistrationMachine",
    "RestoreConfig",
    "RetryPolicy",
    "Rule",
    "SaveConfig",
    "SendBootstrapRequest",
    "SendDeregister",
    "SendRegister",
    "SendUpdate",
    "ServerAccount",
    "SetTimer",
    "Timer",
    "bootstrap_request_query",
    "check_bootstrap_config",
    "lower_versions",
    "parse_location",
    "register_query",
    "server_accounts",
    "update_query",
]

log = logging.getLogger(__name__)

# CoAP response codes (class << 5 | detail, RFC 7252 section 12.1.2).
_CREATED: Final = 0x41  # 2.01, Register (Core TS 1.1 6.2.1)
_DELETED: Final = 0x42  # 2.02, De-register (6.2.3)
_CHANGED: Final = 0x44  # 2.04, Update (6.2.2), Bootstrap-Request/Finish (6.1)
_BAD_REQUEST: Final = 0x80  # 4.00
_NOT_FOUND: Final = 0x84  # 4.04
_NOT_ACCEPTABLE: Final = 0x86  # 4.06, Bootstrap-Finish with an inconsistent configuration
_PRECONDITION_FAILED: Final = 0x8C  # 4.12, Register: the server does not support that version

#: The LwM2M versions this client speaks, newest first (version fall-back order).
SUPPORTED_VERSIONS: Final = ("1.2", "1.1", "1.0")
#: The shortest wait between two Registers however the Server object sets the timers, so
#: that a Communication Retry Timer of 0 cannot make the client hammer its server.
MIN_RETRY_DELAY: Final = 1.0

#: RFC 7252 4.8.2 MAX_TRANSMIT_WAIT with the default parameters: the longest a
#: confirmable request may take. Used as the Update margin and as the queue-mode
#: receive window (LwM2M 1.1 section 6.5 suggests the same value).
MAX_TRANSMIT_WAIT: Final = 93.0
#: RFC 7252 4.8.2 EXCHANGE_LIFETIME: default wait for Bootstrap-Finish after the last message.
EXCHANGE_LIFETIME: Final = 247.0


# --------------------------------------------------------------------------- enums


class Timer(Enum):
    """Named timers; the shell keys them by (server, timer)."""

    UPDATE = "update"  # next Update is due
    RETRY = "retry"  # back-off / hold-off / initial delay over: try again
    DISABLE = "disable"  # Disable Timeout over: Register again
    QUEUE_RX = "queue_rx"  # queue mode: the receive window closes
    BOOTSTRAP_FINISH = "bootstrap_finish"  # no Bootstrap-Finish in time


class RegState(Enum):
    IDLE = "idle"  # not started, or stopped
    WAIT_REGISTER = "wait_register"  # initial delay or back-off before the next Register
    REGISTERING = "registering"  # Register in flight
    REGISTERED = "registered"  # registered, reachable; Update timer armed
    UPDATING = "updating"  # Update in flight
    UPDATE_BACKOFF = "update_backoff"  # an Update failed; still registered, retry later
    SLEEPING = "sleeping"  # queue mode: registered, receiver off
    DEREGISTERING = "deregistering"  # De-register in flight, then IDLE
    DISABLING = "disabling"  # De-register in flight, then DISABLED
    DISABLED = "disabled"  # disabled by /1/x/4 until the Disable Timeout ends
    FAILED = "failed"  # registration failed for good (/1/x/19, /1/x/20): no further attempt


class BsState(Enum):
    IDLE = "idle"
    WAIT_REQUEST = "wait_request"  # hold-off or back-off before the Bootstrap-Request
    REQUESTING = "requesting"  # Bootstrap-Request in flight
    BOOTSTRAPPING = "bootstrapping"  # the bootstrap server writes; waiting for Finish
    DONE = "done"  # Finish accepted


class Input(Enum):
    """Inputs of both machines, after classification of the raw calls."""

    START = "start"
    STOP = "stop"  # stop without De-register
    STOP_DEREGISTER = "stop_deregister"
    # answer to the request in flight
    SUCCESS = "success"  # the expected code (2.01 with a Location / 2.04 / 2.02)
    NOT_FOUND = "not_found"  # 4.04
    VERSION_REFUSED = "version_refused"  # Register answered 4.12: LwM2M version not supported
    REJECTED = "rejected"  # another 4.xx, an unexpected code, a bad Location-Path
    SERVER_ERROR = "server_error"  # 5.xx
    TIMEOUT = "timeout"  # no answer after the CoAP retransmissions
    NETWORK_ERROR = "network_error"  # ICMP unreachable, socket or DTLS error
    # timers
    UPDATE_TIMER = "update_timer"
    RETRY_TIMER = "retry_timer"
    DISABLE_TIMER = "disable_timer"
    RX_TIMER = "rx_timer"
    FINISH_TIMER = "finish_timer"
    # registration
    UPDATE_NEEDED = "update_needed"  # lifetime/binding/objects changed, /1/x/8 executed
    REREGISTER_NEEDED = "reregister_needed"  # local address changed, queue mode toggled (1.1)
    DISABLE = "disable"  # /1/x/4 executed
    SERVER_ACTIVITY = "server_activity"  # a request from this server arrived
    WAKE_UP = "wake_up"  # queue mode: the application has something to send
    # bootstrap
    BS_ACTIVITY = "bs_activity"  # a Bootstrap-Write/Delete/Discover/Read arrived
    FINISH_VALID = "finish_valid"  # Bootstrap-Finish, configuration consistent
    FINISH_INVALID = "finish_invalid"  # Bootstrap-Finish, configuration inconsistent


_TIMER_INPUT: Final[dict[Timer, Input]] = {
    Timer.UPDATE: Input.UPDATE_TIMER,
    Timer.RETRY: Input.RETRY_TIMER,
    Timer.DISABLE: Input.DISABLE_TIMER,
    Timer.QUEUE_RX: Input.RX_TIMER,
    Timer.BOOTSTRAP_FINISH: Input.FINISH_TIMER,
}

# --------------------------------------------------------------------------- actions


@dataclass(slots=True, frozen=True)
class SendRegister:
    """POST /rd, Content-Format 40, payload: the object links, Uri-Query: ``query``.

    ``lwm2m_version`` is the version the Register declares: the object links, and
    everything the client sends this server from then on, are encoded for it.
    """

    server: int
    token: int
    query: tuple[str, ...]
    path: tuple[str, ...] = ("rd",)
    object_links: bool = True
    lwm2m_version: str = "1.1"


@dataclass(slots=True, frozen=True)
class SendUpdate:
    """POST to the Location; object links (Content-Format 40) only when ``object_links``."""

    server: int
    token: int
    location: tuple[str, ...]
    query: tuple[str, ...]
    object_links: bool
    lwm2m_version: str = "1.1"


@dataclass(slots=True, frozen=True)
class SendDeregister:
    """DELETE on the Location."""

    server: int
    token: int
    location: tuple[str, ...]


@dataclass(slots=True, frozen=True)
class SendBootstrapRequest:
    """POST /bs with Uri-Query ``query``, no payload."""

    token: int
    query: tuple[str, ...]
    path: tuple[str, ...] = ("bs",)
    server: None = None


@dataclass(slots=True, frozen=True)
class SetTimer:
    """Call ``timer_fired(server, timer, now)`` at ``deadline``; replaces an earlier deadline."""

    server: int | None
    timer: Timer
    deadline: float


@dataclass(slots=True, frozen=True)
class CancelTimer:
    server: int | None
    timer: Timer


@dataclass(slots=True, frozen=True)
class OpenConnection:
    """Open the connection to this server now, to be reachable (no request to send yet)."""

    server: int | None


@dataclass(slots=True, frozen=True)
class CloseConnection:
    """Drop the socket / DTLS session to this server (stop, Disable)."""

    server: int | None


@dataclass(slots=True, frozen=True)
class SaveConfig:
    """Snapshot the Security and Server objects: a bootstrap is about to change them."""

    server: None = None


@dataclass(slots=True, frozen=True)
class RestoreConfig:
    """The bootstrap failed: put the snapshot of :class:`SaveConfig` back."""

    server: None = None


@dataclass(slots=True, frozen=True)
class AnswerFinish:
    """Answer the pending Bootstrap-Finish with this CoAP code (2.04, 4.06, 4.00)."""

    code: int
    server: None = None


Action: TypeAlias = (
    SendRegister
    | SendUpdate
    | SendDeregister
    | SendBootstrapRequest
    | SetTimer
    | CancelTimer
    | OpenConnection
    | CloseConnection
    | SaveConfig
    | RestoreConfig
    | AnswerFinish
    | Event
)

# --------------------------------------------------------------------------- configuration


@dataclass(slots=True)
class RetryPolicy:
    """Back-off between failed attempts: exponential, capped, with downward jitter.

    The n-th consecutive failure waits ``min(max_delay, initial_delay *
    factor**(n-1))`` minus up to ``jitter`` of it, drawn from ``random`` (a
    callable returning a float in [0, 1); inject a fixed one in tests). The
    jitter only shortens the wait, so the cap holds and devices that failed
    together do not retry together. ``attempts``: consecutive failed Registers
    after which the failure is reported and bootstrap fall-back is allowed
    (Core TS 1.1 /1/x/17 Communication Retry Count, default 5).

    The wait runs from the start of the failed attempt, not from its failure:
    a request refused at once (ICMP unreachable, 5.xx) waits the whole delay,
    while a confirmable request that ran out its retransmissions (up to
    MAX_TRANSMIT_WAIT, 93 s, of waiting already) is followed by the next
    attempt as soon as the delay is over, at once when it is over already.

    Why these defaults: a client must find its server again soon after the
    server comes back, whatever the length of the outage. With them, two
    consecutive datagrams towards an absent server are never more than
    ``max(max_delay, 16 * ACK_TIMEOUT * ACK_RANDOM_FACTOR)`` = 48 s apart (the
    second term is the silence between a request's last retransmission and
    its give-up, RFC 7252 4.8), so the first attempt after the return is sent
    within 48 s and the client is registered again within a minute. Attempts
    start at least ``(1 - jitter) * initial_delay`` apart and, from the third
    failure on, ``(1 - jitter) * max_delay`` (34 s) apart, unless the previous
    one spent longer retransmitting or the lifetime ends first (a failed Update
    is retried then): an absent server gets a few datagrams a minute from each
    client, never a stream.
    """

    initial_delay: float = 15.0
    factor: float = 2.0
    max_delay: float = 45.0
    jitter: float = 0.25
    attempts: int = 5
    random: Callable[[], float] = random.random

    def __post_init__(self) -> None:
        if not self.initial_delay > 0:
            raise ValueError("initial_delay must be > 0")
        if not self.factor >= 1:
            raise ValueError("factor must be >= 1")
        if not self.max_delay >= self.initial_delay:
            raise ValueError("max_delay must be >= initial_delay")
        if not 0 <= self.jitter < 1:
            raise ValueError("jitter must be in [0, 1)")
        if self.attempts < 1:
            raise ValueError("attempts must be >= 1")

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures (>= 1)."""
        exponent = min(max(failures, 1) - 1, 64)
        base = min(self.max_delay, self.initial_delay * self.factor**exponent)
        draw = min(max(self.random(), 0.0), 1.0)
        return base * (1.0 - self.jitter * draw)


@dataclass(slots=True)
class ClientSettings:
    """What every server account of one client shares."""

    endpoint: str
    lwm2m_version: str = "1.1"
    #: An Update is sent ``max(lifetime - update_margin, lifetime / 2)`` after the last success.
    update_margin: float = MAX_TRANSMIT_WAIT
    #: Queue mode: stay reachable this long after the last exchange, then QUEUE_MODE_RX_OFF.
    queue_rx_time: float = MAX_TRANSMIT_WAIT
    #: An explicit retry policy overrides the registration procedure of the Server object
    #: (/1/x/17-20): Registers are then retried with it, never giving up. None: the
    #: procedure of Core TS 1.1 6.2.1.1 with each account's resources.
    retry: RetryPolicy | None = None
    #: What the procedure uses where the Server object sets no Communication Retry Timer
    #: or Sequence Delay Timer (a bounded back-off, see :class:`RetryPolicy`), and for
    #: failed Updates without an explicit ``retry``.
    default_retry: RetryPolicy = field(default_factory=RetryPolicy)
    bootstrap_retry: RetryPolicy = field(default_factory=RetryPolicy)
    #: No Bootstrap-Finish this long after the last bootstrap message: the bootstrap failed.
    bootstrap_timeout: float = EXCHANGE_LIFETIME
    #: Client Hold Off Time (/0/x/11) before a client-initiated Bootstrap-Request.
    bootstrap_hold_off: float = 0.0
    #: Preferred content format for the bootstrap server (``pct=``, 1.1), or None.
    preferred_format: int | None = None
    #: Queue mode for the accounts a bootstrap creates (the client's choice, Core TS 1.1 6.5).
    queue_mode: bool = False
    #: Server-initiated bootstrap (Core TS 1.1 6.1.3): bootstrap operations arriving from
    #: the Bootstrap-Server outside a client-initiated bootstrap start a session, and the
    #: connection to it stays open after a Bootstrap-Finish so that it can reach the client.
    server_initiated_bootstrap: bool = False

    def __post_init__(self) -> None:
        if not self.endpoint:
            raise ValueError("endpoint name must not be empty")
        if self.lwm2m_version not in SUPPORTED_VERSIONS:
            raise ValueError(f"LwM2M version {self.lwm2m_version!r} is not one of 1.0, 1.1, 1.2")
        if self.update_margin < 0 or self.queue_rx_time <= 0 or self.bootstrap_timeout <= 0:
            raise ValueError("update_margin, queue_rx_time and bootstrap_timeout must be positive")


# --------------------------------------------------------------------------- wire helpers


def lower_versions(version: str) -> tuple[str, ...]:
    """The versions a client of ``version`` may register with, newest first (1.2 -> 1.1 -> 1.0)."""
    return SUPPORTED_VERSIONS[SUPPORTED_VERSIONS.index(version) :]


def _binding_param(version: str, binding: str, queue_mode: bool) -> str:
    # LwM2M 1.0 carries queue mode as a "Q" in the binding ("UQ"); 1.1 has a Q parameter.
    if version == "1.0" and queue_mode and "Q" not in binding:
        return binding + "Q"
    return binding


def register_query(
    endpoint: str,
    lifetime: int | None,
    *,
    lwm2m_version: str = "1.1",
    binding: str = "U",
    queue_mode: bool = False,
    sms: str | None = None,
) -> list[str]:
    """Register Uri-Query values: ``lwm2m=``, ``ep=``, ``lt=``, then ``b=``/``Q``/``sms=``.

    ``b=`` only when it is not the default "U", ``Q`` only in queue mode
    (LwM2M >= 1.1), ``sms=`` only when set (Core TS 1.1 6.2.1).
    """
    query = [f"lwm2m={lwm2m_version}", f"ep={endpoint}"]
    if lifetime is not None:
        query.append(f"lt={lifetime}")
    b = _binding_param(lwm2m_version, binding, queue_mode)
    if b != "U":
        query.append(f"b={b}")
    if queue_mode and lwm2m_version != "1.0":
        query.append("Q")
    if sms:
        query.append(f"sms={sms}")
    return query


def update_query(
    lifetime: int | None = None, binding: str | None = None, sms: str | None = None
) -> list[str]:
    """Update Uri-Query values for the changed parameters only, in the order lt, b, sms."""
    query: list[str] = []
    if lifetime is not None:
        query.append(f"lt={lifetime}")
    if binding is not None:
        query.append(f"b={binding}")
    if sms is not None:
        query.append(f"sms={sms}")
    return query


def bootstrap_request_query(endpoint: str, preferred_format: int | None = None) -> list[str]:
    """Bootstrap-Request Uri-Query values: ``ep=`` then ``pct=`` when given (Core TS 1.1 6.1.1)."""
    query = [f"ep={endpoint}"]
    if preferred_format is not None:
        query.append(f"pct={preferred_format}")
    return query


def parse_location(segments: Sequence[object]) -> tuple[str, ...]:
    """Check the Location-Path options of a Register answer; raise DecodeError if unusable.

    The Update and De-register go to this path, so every segment must be a
    non-empty text of at most 255 bytes (RFC 7252 5.10), without "/", control
    characters, "." or "..".
    """
    if not segments:
        raise DecodeError("Location-Path missing")
    out: list[str] = []
    for index, raw in enumerate(segments):
        if isinstance(raw, bytes | bytearray):
            try:
                text = bytes(raw).decode("utf-8")
            except UnicodeDecodeError:
                raise DecodeError(f"Location-Path segment {index} is not UTF-8") from None
        elif isinstance(raw, str):
            text = raw
        else:
            raise DecodeError(f"Location-Path segment {index} is not text")
        if not text or text in (".", ".."):
            raise DecodeError(f"Location-Path segment {index} is empty or a dot segment")
        if len(text.encode("utf-8")) > 255:
            raise DecodeError(f"Location-Path segment {index} longer than 255 bytes")
        if "/" in text or any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
            raise DecodeError(f"Location-Path segment {index} contains '/' or a control character")
        out.append(text)
    return tuple(out)


# --------------------------------------------------------------------------- tables


@dataclass(slots=True, frozen=True)
class Rule:
    """``step``: method ``_step_<step>`` producing the actions; ``targets``: states it may reach."""

    step: str
    targets: frozenset[RegState] | frozenset[BsState]


def _rule(step: str, *targets: RegState) -> Rule:
    return Rule(step, frozenset(targets))


def _bs_rule(step: str, *targets: BsState) -> Rule:
    return Rule(step, frozenset(targets))


_R = RegState
_I = Input
_FAILURES = (_I.REJECTED, _I.SERVER_ERROR, _I.TIMEOUT, _I.NETWORK_ERROR)
_ANSWERS = (_I.SUCCESS, _I.NOT_FOUND, *_FAILURES)
#: States with a registration (a Location) on the server.
_WITH_LOCATION = (_R.REGISTERED, _R.UPDATING, _R.UPDATE_BACKOFF, _R.SLEEPING)
_WITHOUT_LOCATION = tuple(s for s in RegState if s is not _R.IDLE and s not in _WITH_LOCATION)

#: The registration flow, Core TS 1.1 6.2 and E.2 (Server object). Not listed: ignored.
REGISTRATION_TABLE: Final[dict[tuple[RegState, Input], Rule]] = {
    # start: Register at once, or after /1/x/14 Initial Registration Delay
    (_R.IDLE, _I.START): _rule("start", _R.REGISTERING, _R.WAIT_REGISTER),
    (_R.WAIT_REGISTER, _I.RETRY_TIMER): _rule("register", _R.REGISTERING),
    # Register answered; a failure waits as Core TS 1.1 6.2.1.1 says (/1/x/17-20), or
    # gives up for good (FAILED) when those resources say no further attempt
    (_R.REGISTERING, _I.SUCCESS): _rule("registered", _R.REGISTERED, _R.UPDATING),
    **{
        (_R.REGISTERING, i): _rule("register_failed", _R.WAIT_REGISTER, _R.FAILED)
        for i in _FAILURES
    },
    (_R.REGISTERING, _I.NOT_FOUND): _rule("register_failed", _R.WAIT_REGISTER, _R.FAILED),
    # 4.12: the server does not support this LwM2M version; at once with the next lower one
    (_R.REGISTERING, _I.VERSION_REFUSED): _rule(
        "version_fallback", _R.REGISTERING, _R.WAIT_REGISTER, _R.FAILED
    ),
    # something changed while the Register is in flight: Update right after it
    (_R.REGISTERING, _I.UPDATE_NEEDED): _rule("defer_update", _R.REGISTERING),
    # Update: when due, when something changed, on /1/x/8, on wake-up in queue mode
    (_R.REGISTERED, _I.UPDATE_TIMER): _rule("update", _R.UPDATING),
    (_R.REGISTERED, _I.UPDATE_NEEDED): _rule("update", _R.UPDATING),
    (_R.SLEEPING, _I.UPDATE_TIMER): _rule("update", _R.UPDATING),
    (_R.SLEEPING, _I.UPDATE_NEEDED): _rule("update", _R.UPDATING),
    (_R.SLEEPING, _I.WAKE_UP): _rule("update", _R.UPDATING),
    (_R.UPDATE_BACKOFF, _I.UPDATE_NEEDED): _rule("update", _R.UPDATING),
    (_R.UPDATE_BACKOFF, _I.RETRY_TIMER): _rule("retry_update", _R.UPDATING, _R.REGISTERING),
    (_R.UPDATING, _I.UPDATE_NEEDED): _rule("defer_update", _R.UPDATING),
    # Update answered
    (_R.UPDATING, _I.SUCCESS): _rule("updated", _R.REGISTERED, _R.UPDATING),
    (_R.UPDATING, _I.NOT_FOUND): _rule("update_refused", _R.REGISTERING),  # int-105
    (_R.UPDATING, _I.REJECTED): _rule("update_refused", _R.REGISTERING),
    (_R.UPDATING, _I.SERVER_ERROR): _rule("update_failed", _R.UPDATE_BACKOFF, _R.REGISTERING),
    (_R.UPDATING, _I.TIMEOUT): _rule("update_failed", _R.UPDATE_BACKOFF, _R.REGISTERING),
    (_R.UPDATING, _I.NETWORK_ERROR): _rule("update_failed", _R.UPDATE_BACKOFF, _R.REGISTERING),
    # queue mode (Core TS 1.1 6.5): receive window after the last exchange
    (_R.REGISTERED, _I.SERVER_ACTIVITY): _rule("awake", _R.REGISTERED),
    (_R.SLEEPING, _I.SERVER_ACTIVITY): _rule("awake", _R.REGISTERED),
    (_R.REGISTERED, _I.RX_TIMER): _rule("sleep", _R.SLEEPING),
    # new local address or port, queue mode switched (1.1): a full Register
    **{(s, _I.REREGISTER_NEEDED): _rule("register", _R.REGISTERING) for s in _WITH_LOCATION},
    (_R.REGISTERING, _I.REREGISTER_NEEDED): _rule("register", _R.REGISTERING),
    # Disable /1/x/4 (int-103, int-555): De-register, stay off, Register after the timeout
    **{(s, _I.DISABLE): _rule("disable", _R.DISABLING) for s in _WITH_LOCATION},
    (_R.REGISTERING, _I.DISABLE): _rule("disable_now", _R.DISABLED),
    (_R.WAIT_REGISTER, _I.DISABLE): _rule("disable_now", _R.DISABLED),
    **{(_R.DISABLING, i): _rule("disabled", _R.DISABLED) for i in _ANSWERS},
    (_R.DISABLED, _I.DISABLE_TIMER): _rule("register", _R.REGISTERING),
    # stop: De-register when there is a registration, else just stop
    **{(s, _I.STOP_DEREGISTER): _rule("deregister", _R.DEREGISTERING) for s in _WITH_LOCATION},
    (_R.DEREGISTERING, _I.SUCCESS): _rule("deregistered", _R.IDLE),
    **{(_R.DEREGISTERING, i): _rule("deregister_failed", _R.IDLE) for i in _FAILURES},
    (_R.DEREGISTERING, _I.NOT_FOUND): _rule("deregister_failed", _R.IDLE),
    **{(s, _I.STOP): _rule("stop", _R.IDLE) for s in RegState if s is not _R.IDLE},
    **{(s, _I.STOP_DEREGISTER): _rule("stop", _R.IDLE) for s in _WITHOUT_LOCATION},
}

#: Timers each registration state may have running; the others are cancelled on entry.
REGISTRATION_TIMERS: Final[dict[RegState, frozenset[Timer]]] = {
    _R.IDLE: frozenset(),
    _R.WAIT_REGISTER: frozenset({Timer.RETRY}),
    _R.REGISTERING: frozenset(),
    _R.REGISTERED: frozenset({Timer.UPDATE, Timer.QUEUE_RX}),
    _R.UPDATING: frozenset(),
    _R.UPDATE_BACKOFF: frozenset({Timer.RETRY}),
    _R.SLEEPING: frozenset({Timer.UPDATE}),
    _R.DEREGISTERING: frozenset(),
    _R.DISABLING: frozenset(),
    _R.DISABLED: frozenset({Timer.DISABLE}),
    _R.FAILED: frozenset(),
}

_B = BsState
_BS_ACTIVE = (_B.WAIT_REQUEST, _B.REQUESTING, _B.BOOTSTRAPPING)
#: Where a failed bootstrap session goes: retry the request, or (server-initiated) back.
_BS_RESUME = (_B.WAIT_REQUEST, _B.IDLE, _B.DONE)

#: The bootstrap flow, Core TS 1.1 6.1: client-initiated, and server-initiated (6.1.3)
#: from IDLE/DONE when :attr:`ClientSettings.server_initiated_bootstrap`. Not listed: ignored.
BOOTSTRAP_TABLE: Final[dict[tuple[BsState, Input], Rule]] = {
    # start: after the Client Hold Off Time (/0/x/11), reachable for the Bootstrap-Server
    (_B.IDLE, _I.START): _bs_rule("start", _B.WAIT_REQUEST, _B.REQUESTING),
    (_B.DONE, _I.START): _bs_rule("start", _B.WAIT_REQUEST, _B.REQUESTING),
    (_B.WAIT_REQUEST, _I.RETRY_TIMER): _bs_rule("request", _B.REQUESTING),
    # Bootstrap-Request answered
    (_B.REQUESTING, _I.SUCCESS): _bs_rule("accepted", _B.BOOTSTRAPPING),
    **{(_B.REQUESTING, i): _bs_rule("request_failed", _B.WAIT_REQUEST) for i in _FAILURES},
    (_B.REQUESTING, _I.NOT_FOUND): _bs_rule("request_failed", _B.WAIT_REQUEST),
    # bootstrap operations: the first one may overtake the 2.04; server-initiated bootstrap
    (_B.REQUESTING, _I.BS_ACTIVITY): _bs_rule("accepted", _B.BOOTSTRAPPING),
    (_B.WAIT_REQUEST, _I.BS_ACTIVITY): _bs_rule("server_initiated", _B.BOOTSTRAPPING),
    (_B.IDLE, _I.BS_ACTIVITY): _bs_rule("server_initiated", _B.BOOTSTRAPPING),
    (_B.DONE, _I.BS_ACTIVITY): _bs_rule("server_initiated", _B.BOOTSTRAPPING),
    (_B.BOOTSTRAPPING, _I.BS_ACTIVITY): _bs_rule("activity", _B.BOOTSTRAPPING),
    # Bootstrap-Finish
    (_B.REQUESTING, _I.FINISH_VALID): _bs_rule("finished", _B.DONE),
    (_B.BOOTSTRAPPING, _I.FINISH_VALID): _bs_rule("finished", _B.DONE),
    (_B.REQUESTING, _I.FINISH_INVALID): _bs_rule("finish_refused", _B.WAIT_REQUEST),
    # a failed server-initiated session returns to where it started (IDLE or DONE)
    (_B.BOOTSTRAPPING, _I.FINISH_INVALID): _bs_rule("finish_refused", *_BS_RESUME),
    (_B.BOOTSTRAPPING, _I.FINISH_TIMER): _bs_rule("transfer_timeout", *_BS_RESUME),
    # stop
    **{(s, _I.STOP): _bs_rule("stop", _B.IDLE) for s in (*_BS_ACTIVE, _B.DONE)},
}

BOOTSTRAP_TIMERS: Final[dict[BsState, frozenset[Timer]]] = {
    _B.IDLE: frozenset(),
    _B.WAIT_REQUEST: frozenset({Timer.RETRY}),
    _B.REQUESTING: frozenset(),
    _B.BOOTSTRAPPING: frozenset({Timer.BOOTSTRAP_FINISH}),
    _B.DONE: frozenset(),
}

# --------------------------------------------------------------------------- machine core


class _Kind(Enum):
    REGISTER = "Register"
    UPDATE = "Update"
    DEREGISTER = "De-register"
    BOOTSTRAP_REQUEST = "Bootstrap-Request"


_EXPECTED_CODE: Final[dict[_Kind, int]] = {
    _Kind.REGISTER: _CREATED,
    _Kind.UPDATE: _CHANGED,
    _Kind.DEREGISTER: _DELETED,
    _Kind.BOOTSTRAP_REQUEST: _CHANGED,
}


@dataclass(slots=True, frozen=True)
class _Params:
    """Registration parameters, as sent and as acknowledged."""

    lifetime: int | None
    binding: str
    queue_mode: bool
    sms: str | None
    objects_generation: int


@dataclass(slots=True, frozen=True)
class _InFlight:
    kind: _Kind
    token: int
    started: float  # when the machine asked for the request: the back-off runs from here
    params: _Params | None = None


@dataclass(slots=True)
class _Data:
    """What a step may need besides ``now``."""

    inp: Input
    detail: str = ""
    location: tuple[str, ...] = ()
    timeout: float = 0.0
    #: The server refused with a 4.xx code (not garbage, not silence): an explicit rejection.
    explicit: bool = False


def _code_text(code: int) -> str:
    return f"{code >> 5}.{code & 0x1F:02d}"


def _classify(kind: _Kind, code: object, location: Sequence[object]) -> tuple[Input, _Data]:
    """Turn an answer to the request in flight into an input; garbage becomes REJECTED."""
    if not isinstance(code, int) or isinstance(code, bool) or not 0 <= code <= 0xFF:
        return Input.REJECTED, _Data(Input.REJECTED, f"{kind.value}: invalid code {code!r}")
    text = f"{kind.value} answered {_code_text(code)}"
    if code == _EXPECTED_CODE[kind]:
        if kind is not _Kind.REGISTER:
            return Input.SUCCESS, _Data(Input.SUCCESS, text)
        try:
            loc = parse_location(location)
        except DecodeError as exc:
            return Input.REJECTED, _Data(Input.REJECTED, f"{text}, {exc}")
        return Input.SUCCESS, _Data(Input.SUCCESS, text, location=loc)
    if code == _NOT_FOUND:
        return Input.NOT_FOUND, _Data(Input.NOT_FOUND, text, explicit=True)
    if code == _PRECONDITION_FAILED and kind is _Kind.REGISTER:
        return Input.VERSION_REFUSED, _Data(Input.VERSION_REFUSED, text, explicit=True)
    if code >> 5 == 5:
        return Input.SERVER_ERROR, _Data(Input.SERVER_ERROR, text)
    if code >> 5 == 4:
        return Input.REJECTED, _Data(Input.REJECTED, text, explicit=True)
    return Input.REJECTED, _Data(Input.REJECTED, text + " (unexpected)")


class _Machine:
    """Table lookup, step dispatch, timer bookkeeping; shared by both machines."""

    # Slots: a client holds one machine per server for its whole life.
    __slots__ = (
        "_answered",
        "_armed",
        "_inflight",
        "_next_token",
        "_out",
        "_server",
        "_state_value",
        "failures",
    )

    _table: Mapping[tuple[Any, Input], Rule]
    _timers_in_state: Mapping[Any, frozenset[Timer]]

    def __init__(self, server: int | None, initial: RegState | BsState) -> None:
        self._server = server
        self._state_value: RegState | BsState = initial
        self._armed: dict[Timer, float] = {}
        self._out: list[Action] = []
        self._inflight: _InFlight | None = None
        self._answered: _InFlight | None = None  # the request the current input answers
        self._next_token = 1
        self.failures = 0  # consecutive failed exchanges, drives the back-off

    @property
    def deadlines(self) -> dict[Timer, float]:
        """The running timers and their deadlines."""
        return dict(self._armed)

    @property
    def pending_token(self) -> int | None:
        """Token of the request in flight, if any."""
        return None if self._inflight is None else self._inflight.token

    def timer_fired(self, timer: Timer, now: float) -> list[Action]:
        """A timer set by :class:`SetTimer` reached its deadline."""
        if timer not in self._armed:
            log.debug("%s: timer %s not running, ignored", self._who, timer.value)
            return []
        del self._armed[timer]
        return self._fire(_TIMER_INPUT[timer], now)

    def response(
        self, token: int, code: int, now: float, location: Sequence[object] = ()
    ) -> list[Action]:
        """The answer to the request ``token``: CoAP code and Location-Path segments."""
        inflight = self._take(token, "response")
        if inflight is None:
            return []
        inp, data = _classify(inflight.kind, code, location)
        return self._fire(inp, now, data, inflight)

    def timeout(self, token: int, now: float) -> list[Action]:
        """The request ``token`` got no answer after the CoAP retransmissions."""
        inflight = self._take(token, "timeout")
        if inflight is None:
            return []
        detail = f"{inflight.kind.value}: no answer"
        return self._fire(Input.TIMEOUT, now, _Data(Input.TIMEOUT, detail), inflight)

    def network_error(self, token: int | None, now: float, detail: str = "") -> list[Action]:
        """Sending failed or the peer is unreachable (ICMP, socket, DTLS handshake).

        ``token`` None: an error outside any request of this machine; only reported.
        """
        text = detail or "network error"
        if token is None:
            return [Event(RdEvent.NETWORK_ERROR, self._server, text, now)]
        inflight = self._take(token, "network error")
        if inflight is None:
            return []
        data = _Data(Input.NETWORK_ERROR, f"{inflight.kind.value}: {text}")
        return self._fire(Input.NETWORK_ERROR, now, data, inflight)

    # -- internals

    @property
    def _who(self) -> str:
        return "bootstrap" if self._server is None else f"server {self._server}"

    def _take(self, token: int, what: str) -> _InFlight | None:
        inflight = self._inflight
        if inflight is None or inflight.token != token:
            # A stale answer is normal: e.g. the 2.04 to a Bootstrap-Request that
            # arrives after the bootstrap server's first write already moved on.
            log.info("%s: %s for unknown request %r ignored", self._who, what, token)
            return None
        self._inflight = None
        return inflight

    def _fire(
        self,
        inp: Input,
        now: float,
        data: _Data | None = None,
        inflight: _InFlight | None = None,
    ) -> list[Action]:
        state = self._state_value
        rule = self._table.get((state, inp))
        if rule is None:
            log.info("%s: %s ignored in state %s", self._who, inp.value, state.value)
            return []
        self._out = []
        self._answered = inflight
        step: Callable[[float, _Data], RegState | BsState] = getattr(self, "_step_" + rule.step)
        new = step(now, data or _Data(inp))
        if new not in rule.targets:
            raise RuntimeError(f"{rule.step}: {state} -> {new} not in the table")
        if new is not state:
            log.debug("%s: %s --%s--> %s", self._who, state.value, inp.value, new.value)
        self._state_value = new
        for timer in list(self._armed):
            if timer not in self._timers_in_state[new]:
                self._cancel(timer)
        return self._out

    def _token(self) -> int:
        token = self._next_token
        self._next_token += 1
        return token

    def _arm(self, timer: Timer, deadline: float) -> None:
        self._armed[timer] = deadline
        self._out.append(SetTimer(self._server, timer, deadline))

    def _cancel(self, timer: Timer) -> None:
        if self._armed.pop(timer, None) is not None:
            self._out.append(CancelTimer(self._server, timer))

    def _emit(self, kind: RdEvent, now: float, detail: str = "") -> None:
        self._out.append(Event(kind, self._server, detail, now))

    def _backoff(self, now: float) -> float:
        """Count one more failure; the deadline of the next attempt."""
        self.failures += 1
        return self._after_attempt(now, self._policy.delay(self.failures))

    def _after_attempt(self, now: float, delay: float) -> float:
        """``delay`` from the start of the attempt that failed (see :class:`RetryPolicy`),
        or from ``now`` when no request failed (a bootstrap session that never finished)."""
        answered = self._answered
        start = now if answered is None else min(answered.started, now)
        return max(now, start + delay)

    @property
    def _policy(self) -> RetryPolicy:
        raise NotImplementedError


# --------------------------------------------------------------------------- registration


class RegistrationMachine(_Machine):
    """Registration with one LwM2M server (see the module docstring)."""

    __slots__ = (
        "_acked",
        "_disable_timeout",
        "_expires",
        "_location",
        "_objects_generation",
        "_sequence_failures",
        "_sequences",
        "_update_pending",
        "_versions",
        "account",
        "register_failures",
        "registered_once",
        "registration_failed",
        "settings",
        "version",
    )

    _table = REGISTRATION_TABLE
    _timers_in_state = REGISTRATION_TIMERS

    def __init__(self, account: ServerAccount, settings: ClientSettings) -> None:
        super().__init__(account.short_server_id, RegState.IDLE)
        self.account = account
        self.settings = settings
        self._location: tuple[str, ...] | None = None
        self._acked: _Params | None = None  # what the server knows
        self._objects_generation = 0
        self._update_pending = False
        self._expires = 0.0  # end of the registration lifetime on the server
        self._disable_timeout = account.disable_timeout
        self.register_failures = 0  # consecutive failed Registers
        #: The versions to try, newest first, and the one Register declares now.
        self._versions = lower_versions(settings.lwm2m_version)
        self.version = self._versions[0]
        #: Core TS 1.1 6.2.1.1: Registers failed in the current communication sequence,
        #: sequences run out, and whether the registration counts as failed (reported).
        self._sequence_failures = 0
        self._sequences = 0
        self.registration_failed = False
        #: Registered at least once since this account was created (bootstrap or start):
        #: the Initial Registration Delay (/1/x/14) is not applied again.
        self.registered_once = False

    # -- state

    @property
    def server_id(self) -> int:
        return self.account.short_server_id

    @property
    def state(self) -> RegState:
        state = self._state_value
        assert isinstance(state, RegState)
        return state

    @property
    def location(self) -> tuple[str, ...] | None:
        """The Location-Path of the registration, None when not registered."""
        return self._location

    @property
    def registered(self) -> bool:
        return self.state in _WITH_LOCATION

    @property
    def expires(self) -> float | None:
        """When the registration ends on the server unless updated."""
        return self._expires if self.registered else None

    @property
    def exhausted(self) -> bool:
        """The registration failed and this account allows bootstrap fall-back (/1/x/16)."""
        return self.account.bootstrap_on_failure and self.registration_failed

    @property
    def accepts_requests(self) -> bool:
        """Whether requests from this server are served (not while disabled or stopped)."""
        return self.state not in (RegState.IDLE, RegState.DISABLED, RegState.DISABLING)

    # -- inputs

    def start(self, now: float) -> list[Action]:
        """Begin registering (after the account's initial delay, /1/x/14)."""
        return self._fire(Input.START, now)

    def stop(self, now: float, *, deregister: bool = True) -> list[Action]:
        """Stop; with ``deregister`` send De-register first when registered."""
        return self._fire(Input.STOP_DEREGISTER if deregister else Input.STOP, now)

    def lifetime_changed(self, lifetime: int | None, now: float) -> list[Action]:
        """/1/x/1 written: Update at once with the new ``lt`` (int-102)."""
        if lifetime is not None and lifetime <= 0:
            log.warning("server %s: lifetime %r ignored", self._server, lifetime)
            return []
        self.account.lifetime = lifetime
        return self._fire(Input.UPDATE_NEEDED, now)

    def binding_changed(self, binding: str, now: float) -> list[Action]:
        """/1/x/7 written: Update with the new ``b``."""
        self.account.binding = binding
        return self._fire(Input.UPDATE_NEEDED, now)

    def sms_changed(self, sms: str | None, now: float) -> list[Action]:
        self.account.sms = sms
        return self._fire(Input.UPDATE_NEEDED, now)

    def queue_mode_changed(self, enabled: bool, now: float) -> list[Action]:
        """Queue mode switched: 1.1 signals it only in Register (``Q``), 1.0 in ``b``."""
        self.account.queue_mode = enabled
        if self.version == "1.0":
            return self._fire(Input.UPDATE_NEEDED, now)
        return self._fire(Input.REREGISTER_NEEDED, now)

    def objects_changed(self, now: float) -> list[Action]:
        """Objects or instances were added or removed: Update with the object links."""
        self._objects_generation += 1
        return self._fire(Input.UPDATE_NEEDED, now)

    def update_trigger(self, now: float) -> list[Action]:
        """/1/x/8 Registration Update Trigger executed (int-104)."""
        return self._fire(Input.UPDATE_NEEDED, now)

    def disable(self, now: float, timeout: float | None = None) -> list[Action]:
        """/1/x/4 Disable executed; ``timeout``: /1/x/5 (None: the account's value).

        Feed this after the response to the Execute is sent: the De-register follows it.
        """
        self._disable_timeout = self.account.disable_timeout if timeout is None else timeout
        return self._fire(Input.DISABLE, now)

    def address_changed(self, now: float) -> list[Action]:
        """The local address or port changed (NAT rebinding, new network): Register again."""
        return self._fire(Input.REREGISTER_NEEDED, now)

    def server_activity(self, now: float) -> list[Action]:
        """A request from this server arrived (keeps the queue-mode receiver on)."""
        return self._fire(Input.SERVER_ACTIVITY, now)

    def wake_up(self, now: float) -> list[Action]:
        """Queue mode: the client has something to send; an Update goes first."""
        return self._fire(Input.WAKE_UP, now)

    # -- helpers

    @property
    def _policy(self) -> RetryPolicy:
        return self.settings.retry or self.settings.default_retry

    def _current(self) -> _Params:
        a = self.account
        return _Params(a.lifetime, a.binding, a.queue_mode, a.sms, self._objects_generation)

    def _schedule_update(self, now: float) -> None:
        lifetime = self._acked.lifetime if self._acked else None
        lt = float(DEFAULT_LIFETIME if lifetime is None else lifetime)
        self._expires = now + lt
        self._arm(Timer.UPDATE, now + max(lt - self.settings.update_margin, lt / 2))

    def _after_success(self, now: float) -> RegState:
        if self._update_pending or self._current() != self._acked:
            return self._step_update(now, _Data(Input.UPDATE_NEEDED))
        self._schedule_update(now)
        if self.account.queue_mode:
            self._arm(Timer.QUEUE_RX, now + self.settings.queue_rx_time)
        return RegState.REGISTERED

    def _left_server(self, now: float) -> None:
        self._location = None
        self._acked = None
        self._inflight = None
        self._out.append(CloseConnection(self._server))

    # -- steps (named in REGISTRATION_TABLE)

    def _reset_procedure(self) -> None:
        self.failures = self.register_failures = 0
        self._sequence_failures = self._sequences = 0
        self.registration_failed = False

    def _step_start(self, now: float, d: _Data) -> RegState:
        self._reset_procedure()
        self.version = self._versions[0]
        if self.account.initial_delay > 0 and not self.registered_once:
            self._arm(Timer.RETRY, now + self.account.initial_delay)
            return RegState.WAIT_REGISTER
        return self._step_register(now, d)

    def _step_register(self, now: float, d: _Data) -> RegState:
        params = self._current()
        s, a = self.settings, self.account
        query = register_query(
            s.endpoint,
            params.lifetime,
            lwm2m_version=self.version,
            binding=params.binding,
            queue_mode=params.queue_mode,
            sms=params.sms,
        )
        token = self._token()
        self._location = None
        self._acked = None
        self._update_pending = False
        self._inflight = _InFlight(_Kind.REGISTER, token, now, params)
        self._out.append(
            SendRegister(a.short_server_id, token, tuple(query), lwm2m_version=self.version)
        )
        return RegState.REGISTERING

    def _step_registered(self, now: float, d: _Data) -> RegState:
        assert self._answered is not None
        self._location = d.location
        self._acked = self._answered.params
        self._reset_procedure()
        self.registered_once = True
        where = "/" + "/".join(d.location)
        if self.version != self._versions[0]:
            where += f" (LwM2M {self.version})"
        self._emit(RdEvent.REGISTRATION_COMPLETE, now, where)
        return self._after_success(now)

    def _step_version_fallback(self, now: float, d: _Data) -> RegState:
        # Core TS 1.1 6.2.1: a server refuses a Register of a version it does not support;
        # the client tries again at once with the next lower version it supports.
        index = self._versions.index(self.version)
        if index + 1 < len(self._versions):
            refused, self.version = self.version, self._versions[index + 1]
            log.info(
                "server %s: LwM2M %s refused (4.12); registering as LwM2M %s",
                self._server,
                refused,
                self.version,
            )
            return self._step_register(now, d)
        tried = ", ".join(self._versions)
        self.version = self._versions[0]
        detail = f"{d.detail}: the server supports none of LwM2M {tried}"
        return self._step_register_failed(now, _Data(Input.REJECTED, detail, explicit=True))

    def _next_register_delay(self, explicit: bool) -> float | None:
        """Count one failed Register; the wait before the next one, None: no further one.

        Core TS 1.1 6.2.1.1 (/1/x/17-20): up to Communication Retry Count attempts
        form a sequence, Communication Retry Timer * 2**(n-1) apart; sequences are
        Communication Sequence Delay Timer apart; after Communication Sequence Retry
        Count sequences the registration has failed. An explicit 4.xx rejection
        fails it at once (/1/x/16). Resources the Server object does not set take the
        spec's defaults, except the two timers: their defaults (60 s doubling, one
        day) would leave a server that came back unreached for hours, so the
        client's bounded back-off (:attr:`ClientSettings.default_retry`) stands in.
        An explicit :attr:`ClientSettings.retry` replaces the whole procedure.
        """
        self.register_failures += 1
        self.failures += 1
        if explicit:
            self.registration_failed = True
        override = self.settings.retry
        if override is not None:
            if self.register_failures >= override.attempts:
                self.registration_failed = True
            return override.delay(self.failures)
        a, fallback = self.account, self.settings.default_retry
        self._sequence_failures += 1
        if self._sequence_failures < (a.retry_count or fallback.attempts):
            if a.retry_timer is None:
                return fallback.delay(self.failures)
            exponent = min(self._sequence_failures - 1, 32)
            return max(MIN_RETRY_DELAY, a.retry_timer * 2.0**exponent)
        # the communication sequence is over
        self._sequence_failures = 0
        self._sequences += 1
        if self._sequences >= (a.sequence_retry_count or 1):
            self.registration_failed = True
        if a.sequence_retry_count is not None and self._sequences >= a.sequence_retry_count:
            return None
        if a.sequence_delay is None:
            return fallback.delay(self.failures)
        if a.sequence_delay >= NO_MORE_SEQUENCES:
            return None
        return max(MIN_RETRY_DELAY, a.sequence_delay)

    def _step_register_failed(self, now: float, d: _Data) -> RegState:
        delay = self._next_register_delay(d.explicit)
        if d.inp is Input.NETWORK_ERROR:
            self._emit(RdEvent.NETWORK_ERROR, now, d.detail)
        if delay is None:
            text = (
                f"{d.detail}; attempt {self.register_failures}, "
                f"{self._sequences} communication sequence(s): no further attempt"
            )
            self._emit(RdEvent.REGISTRATION_FAILURE, now, text)
            self._left_server(now)
            return RegState.FAILED
        deadline = self._after_attempt(now, delay)
        self._arm(Timer.RETRY, deadline)
        text = f"{d.detail}; attempt {self.register_failures}, next in {deadline - now:.0f} s"
        if self.registration_failed:
            self._emit(RdEvent.REGISTRATION_FAILURE, now, text)
        else:
            log.info("server %s: %s", self._server, text)
        return RegState.WAIT_REGISTER

    def _step_defer_update(self, now: float, d: _Data) -> RegState:
        self._update_pending = True
        return self.state

    def _step_update(self, now: float, d: _Data) -> RegState:
        assert self._location is not None and self._acked is not None
        params, acked, version = self._current(), self._acked, self.version
        binding = _binding_param(version, params.binding, params.queue_mode)
        query = update_query(
            params.lifetime if params.lifetime != acked.lifetime else None,
            binding
            if binding != _binding_param(version, acked.binding, acked.queue_mode)
            else None,
            params.sms if params.sms != acked.sms else None,
        )
        links = params.objects_generation != acked.objects_generation
        token = self._token()
        self._update_pending = False
        self._inflight = _InFlight(_Kind.UPDATE, token, now, params)
        self._out.append(
            SendUpdate(
                self.server_id, token, self._location, tuple(query), links, lwm2m_version=version
            )
        )
        return RegState.UPDATING

    def _step_updated(self, now: float, d: _Data) -> RegState:
        assert self._answered is not None
        self._acked = self._answered.params
        self.failures = 0
        self._emit(RdEvent.REG_UPDATE_COMPLETE, now)
        return self._after_success(now)

    def _step_update_refused(self, now: float, d: _Data) -> RegState:
        # 4.04: the server lost the registration (int-105); another 4.xx: it refuses
        # this Update. Both are cured by a full Register.
        self._emit(RdEvent.REG_UPDATE_FAILURE, now, d.detail + "; registering again")
        return self._step_register(now, d)

    def _step_update_failed(self, now: float, d: _Data) -> RegState:
        if d.inp is Input.NETWORK_ERROR:
            self._emit(RdEvent.NETWORK_ERROR, now, d.detail)
        self._emit(RdEvent.REG_UPDATE_FAILURE, now, d.detail)
        if now >= self._expires:
            return self._registration_expired(now)
        self._arm(Timer.RETRY, min(self._backoff(now), self._expires))
        return RegState.UPDATE_BACKOFF

    def _step_retry_update(self, now: float, d: _Data) -> RegState:
        if now >= self._expires:
            return self._registration_expired(now)
        return self._step_update(now, d)

    def _registration_expired(self, now: float) -> RegState:
        self._emit(RdEvent.REG_TIMEOUT, now, "lifetime over without a successful Update")
        return self._step_register(now, _Data(Input.UPDATE_TIMER))

    def _step_awake(self, now: float, d: _Data) -> RegState:
        if self.account.queue_mode:
            self._arm(Timer.QUEUE_RX, now + self.settings.queue_rx_time)
        return RegState.REGISTERED

    def _step_sleep(self, now: float, d: _Data) -> RegState:
        self._emit(RdEvent.QUEUE_MODE_RX_OFF, now)
        return RegState.SLEEPING

    def _step_disable(self, now: float, d: _Data) -> RegState:
        self._emit(RdEvent.SERVER_DISABLED, now, f"for {self._disable_timeout:.0f} s")
        self._send_deregister(now)
        return RegState.DISABLING

    def _step_disable_now(self, now: float, d: _Data) -> RegState:
        self._emit(RdEvent.SERVER_DISABLED, now, f"for {self._disable_timeout:.0f} s")
        return self._enter_disabled(now)

    def _step_disabled(self, now: float, d: _Data) -> RegState:
        if d.inp is Input.SUCCESS:
            self._emit(RdEvent.DEREGISTER_COMPLETE, now)
        else:
            self._emit(RdEvent.DEREGISTER_FAILURE, now, d.detail)
        return self._enter_disabled(now)

    def _enter_disabled(self, now: float) -> RegState:
        self._left_server(now)
        self._reset_procedure()
        self._arm(Timer.DISABLE, now + self._disable_timeout)
        return RegState.DISABLED

    def _send_deregister(self, now: float) -> None:
        assert self._location is not None
        token = self._token()
        self._inflight = _InFlight(_Kind.DEREGISTER, token, now)
        self._out.append(SendDeregister(self.server_id, token, self._location))

    def _step_deregister(self, now: float, d: _Data) -> RegState:
        self._send_deregister(now)
        return RegState.DEREGISTERING

    def _step_deregistered(self, now: float, d: _Data) -> RegState:
        self._emit(RdEvent.DEREGISTER_COMPLETE, now)
        return self._step_stop(now, d)

    def _step_deregister_failed(self, now: float, d: _Data) -> RegState:
        self._emit(RdEvent.DEREGISTER_FAILURE, now, d.detail)
        return self._step_stop(now, d)

    def _step_stop(self, now: float, d: _Data) -> RegState:
        self._left_server(now)
        self._emit(RdEvent.DISCONNECT, now)
        return RegState.IDLE


# --------------------------------------------------------------------------- bootstrap


class BootstrapMachine(_Machine):
    """Client-initiated bootstrap with the bootstrap server (see the module docstring)."""

    __slots__ = ("_resume", "hold_off", "settings")

    _table = BOOTSTRAP_TABLE
    _timers_in_state = BOOTSTRAP_TIMERS

    def __init__(self, settings: ClientSettings) -> None:
        super().__init__(None, BsState.IDLE)
        self.settings = settings
        #: The state a server-initiated session started from (IDLE or DONE): it goes
        #: back there when it fails, the configuration restored.
        self._resume: BsState | None = None
        #: Client Hold Off Time (/0/x/11 of the Bootstrap-Server account): the shell keeps
        #: it up to date from the Security object; the settings give the value without one.
        self.hold_off = settings.bootstrap_hold_off

    @property
    def state(self) -> BsState:
        state = self._state_value
        assert isinstance(state, BsState)
        return state

    @property
    def accepts_operations(self) -> bool:
        """Whether bootstrap operations (Write, Delete, Discover, Read, Finish) are served now."""
        return self.state in _BS_ACTIVE

    @property
    def _policy(self) -> RetryPolicy:
        return self.settings.bootstrap_retry

    # -- inputs

    def start(self, now: float) -> list[Action]:
        """Bootstrap: Bootstrap-Request after the hold-off time (/0/x/11)."""
        return self._fire(Input.START, now)

    def stop(self, now: float) -> list[Action]:
        return self._fire(Input.STOP, now)

    def activity(self, now: float) -> list[Action]:
        """A bootstrap operation arrived; feed this before applying it, then apply it
        only if :attr:`accepts_operations`."""
        settled = self.state in (BsState.IDLE, BsState.DONE)
        if settled and not self.settings.server_initiated_bootstrap:
            log.info("bootstrap operation outside a bootstrap refused")
            return []
        return self._fire(Input.BS_ACTIVITY, now)

    def finish(self, now: float, problems: Sequence[str]) -> list[Action]:
        """Bootstrap-Finish arrived; ``problems`` from :func:`check_bootstrap_config`.

        The actions always hold one :class:`AnswerFinish`: 2.04, 4.06 when the
        configuration is inconsistent, 4.00 when no bootstrap is in progress.
        """
        if problems:
            data = _Data(Input.FINISH_INVALID, "; ".join(problems))
            out = self._fire(Input.FINISH_INVALID, now, data)
        else:
            out = self._fire(Input.FINISH_VALID, now)
        if not any(isinstance(a, AnswerFinish) for a in out):
            out.append(AnswerFinish(_BAD_REQUEST))
        return out

    # -- steps (named in BOOTSTRAP_TABLE)

    def _step_start(self, now: float, d: _Data) -> BsState:
        self.failures = 0
        hold_off = self.hold_off
        if hold_off > 0:
            # Core TS 1.0 5.2.3 / 1.1 6.1.3: during the hold-off the Bootstrap-Server may
            # start a server-initiated bootstrap; the client must be reachable for it.
            self._out.append(OpenConnection(None))
            self._arm(Timer.RETRY, now + hold_off)
            return BsState.WAIT_REQUEST
        return self._step_request(now, d)

    def _step_request(self, now: float, d: _Data) -> BsState:
        s = self.settings
        token = self._token()
        self._inflight = _InFlight(_Kind.BOOTSTRAP_REQUEST, token, now)
        self._out.append(SaveConfig())
        query = bootstrap_request_query(s.endpoint, s.preferred_format)
        self._out.append(SendBootstrapRequest(token, tuple(query)))
        return BsState.REQUESTING

    def _step_accepted(self, now: float, d: _Data) -> BsState:
        self._inflight = None  # a late 2.04 after the first operation is then ignored
        self._emit(RdEvent.BOOTSTRAP_REG_COMPLETE, now)
        return self._step_activity(now, d)

    def _step_server_initiated(self, now: float, d: _Data) -> BsState:
        settled = self.state in (BsState.IDLE, BsState.DONE)
        self._resume = self.state if settled else None
        self._out.append(SaveConfig())
        return self._step_activity(now, d)

    def _step_activity(self, now: float, d: _Data) -> BsState:
        self._arm(Timer.BOOTSTRAP_FINISH, now + self.settings.bootstrap_timeout)
        return BsState.BOOTSTRAPPING

    def _retry_later(self, now: float, kind: RdEvent, detail: str) -> BsState:
        deadline = self._backoff(now)
        self._arm(Timer.RETRY, deadline)
        self._emit(kind, now, f"{detail}; Bootstrap-Request again in {deadline - now:.0f} s")
        return BsState.WAIT_REQUEST

    def _step_request_failed(self, now: float, d: _Data) -> BsState:
        if d.inp is Input.NETWORK_ERROR:
            self._emit(RdEvent.NETWORK_ERROR, now, d.detail)
        return self._retry_later(now, RdEvent.BOOTSTRAP_REG_FAILURE, d.detail)

    def _step_finished(self, now: float, d: _Data) -> BsState:
        self._inflight = None
        self._resume = None
        self.failures = 0
        self._out.append(AnswerFinish(_CHANGED))
        self._emit(RdEvent.BOOTSTRAP_TRANSFER_COMPLETE, now)
        if not self.settings.server_initiated_bootstrap:
            self._out.append(CloseConnection(None))  # after the answer to Finish
        return BsState.DONE

    def _step_finish_refused(self, now: float, d: _Data) -> BsState:
        # Core TS 1.1 6.1.7: Bootstrap-Finish answered 4.06 Not Acceptable when the
        # configuration is inconsistent; the previous configuration comes back.
        self._inflight = None
        self._out.append(AnswerFinish(_NOT_ACCEPTABLE))
        self._out.append(RestoreConfig())
        return self._failed(now, f"inconsistent configuration: {d.detail}")

    def _step_transfer_timeout(self, now: float, d: _Data) -> BsState:
        self._out.append(RestoreConfig())
        detail = f"no Bootstrap-Finish within {self.settings.bootstrap_timeout:.0f} s"
        return self._failed(now, detail)

    def _failed(self, now: float, detail: str) -> BsState:
        """A session failed: a client-initiated one requests again later; a server-initiated
        one goes back to where it started (the client was not asking for a bootstrap)."""
        resume, self._resume = self._resume, None
        if resume is None:
            return self._retry_later(now, RdEvent.BOOTSTRAP_REG_FAILURE, detail)
        self._emit(RdEvent.BOOTSTRAP_REG_FAILURE, now, f"{detail}; previous configuration kept")
        return resume

    def _step_stop(self, now: float, d: _Data) -> BsState:
        if self.state is BsState.BOOTSTRAPPING:
            self._out.append(RestoreConfig())
        self._inflight = None
        self._resume = None
        if self.state is not BsState.DONE:
            self._out.append(CloseConnection(None))
        return BsState.IDLE


# --------------------------------------------------------------------------- coordinator


class RdCoordinator:
    """All registrations of one client, and its bootstrap.

    Routes inputs by Short Server ID (``None``: the bootstrap server). Starts
    the registrations, or the bootstrap when no server account exists
    (factory-bootstrapped devices skip bootstrap). Falls back to bootstrap
    when every registration under way has failed and allows it (int-7). After
    a successful Bootstrap-Finish it replaces the registration machines with
    the accounts of the new configuration and starts them.

    Registration order (Core TS 1.1 6.2.1.1): accounts without a Registration
    Priority Order (/1/x/13) start at once, each after its Initial Registration
    Delay (/1/x/14). Those with one register one after the other, in increasing
    order: the next starts (its delay counted from then) once the previous one
    registered or failed; a failed one whose Registration Failure Block
    (/1/x/15) is true holds the rest back until it registers after all.
    """

    def __init__(
        self,
        settings: ClientSettings,
        accounts: Iterable[ServerAccount] = (),
        *,
        bootstrap: bool = False,
    ) -> None:
        self.settings = settings
        self.servers: dict[int, RegistrationMachine] = {}
        for account in accounts:
            self.servers[account.short_server_id] = RegistrationMachine(account, settings)
        self.bootstrap = BootstrapMachine(settings) if bootstrap else None
        self._running = False
        self._ordered: list[RegistrationMachine] = []
        self._order_pos = 0
        self._blocked_by: int | None = None

    # -- client-wide inputs

    def start(self, now: float) -> list[Action]:
        self._running = True
        if self.servers:
            return self._start_registrations(now)
        if self.bootstrap is not None:
            return self.bootstrap.start(now)
        return [Event(RdEvent.REGISTRATION_FAILURE, None, "no server account, no bootstrap", now)]

    @property
    def registration_order(self) -> list[int]:
        """Short Server IDs of the ordered accounts (/1/x/13), in registration order."""
        return [m.server_id for m in self._ordered]

    def _start_registrations(self, now: float) -> list[Action]:
        machines = self.servers.values()
        self._ordered = sorted(
            (m for m in machines if m.account.priority is not None),
            key=lambda m: (m.account.priority, m.server_id),
        )
        self._order_pos = 0
        self._blocked_by = None
        out: list[Action] = []
        for machine in machines:
            if machine.account.priority is None:
                out += machine.start(now)
        return out + self._advance_order(now)

    def _advance_order(self, now: float) -> list[Action]:
        """Start the next ordered registration once the one before it is settled."""
        out: list[Action] = []
        while self._running and self._order_pos < len(self._ordered):
            machine = self._ordered[self._order_pos]
            if machine.state is RegState.IDLE and not machine.registration_failed:
                if machine.registered_once:
                    self._order_pos += 1  # stopped after registering: its turn is over
                    continue
                return out + machine.start(now)
            if machine.registered_once:
                self._order_pos += 1
                continue
            if not machine.registration_failed:
                return out  # still trying
            if machine.account.failure_block:
                if self._blocked_by != machine.server_id:
                    self._blocked_by = machine.server_id
                    rest = [m.server_id for m in self._ordered[self._order_pos + 1 :]]
                    if rest:
                        text = (
                            f"registration of server(s) {', '.join(map(str, rest))} blocked: "
                            f"server {machine.server_id} failed (Registration Failure Block)"
                        )
                        out.append(Event(RdEvent.REGISTRATION_FAILURE, None, text, now))
                return out
            self._order_pos += 1
        return out

    def stop(self, now: float, *, deregister: bool = True) -> list[Action]:
        self._running = False
        out: list[Action] = []
        for machine in self.servers.values():
            out += machine.stop(now, deregister=deregister)
        if self.bootstrap is not None:
            out += self.bootstrap.stop(now)
        return out

    def objects_changed(self, now: float) -> list[Action]:
        """Objects or instances added or removed: every registration sends an Update."""
        out: list[Action] = []
        for machine in self.servers.values():
            out += machine.objects_changed(now)
        return out

    def bootstrap_trigger(self, now: float) -> list[Action]:
        """/1/x/9 Bootstrap-Request Trigger executed: De-register everywhere, bootstrap."""
        bs = self.bootstrap
        if bs is None or bs.state not in (BsState.IDLE, BsState.DONE):
            log.info("bootstrap trigger ignored: no bootstrap account or already bootstrapping")
            return []
        out: list[Action] = []
        for machine in self.servers.values():
            out += machine.stop(now, deregister=True)
        return out + bs.start(now)

    def set_servers(self, accounts: Iterable[ServerAccount], now: float) -> list[Action]:
        """Replace the server accounts (old machines stop silently) and start the new ones."""
        out: list[Action] = []
        for machine in self.servers.values():
            out += machine.stop(now, deregister=False)
        self.servers = {a.short_server_id: RegistrationMachine(a, self.settings) for a in accounts}
        if self._running:
            out += self._start_registrations(now)
        return out

    # -- routed inputs

    def machine(self, server: int | None) -> RegistrationMachine | BootstrapMachine | None:
        return self.bootstrap if server is None else self.servers.get(server)

    def response(
        self,
        server: int | None,
        token: int,
        code: int,
        now: float,
        location: Sequence[object] = (),
    ) -> list[Action]:
        return self._route(server, now, lambda m: m.response(token, code, now, location))

    def timeout(self, server: int | None, token: int, now: float) -> list[Action]:
        return self._route(server, now, lambda m: m.timeout(token, now))

    def network_error(
        self, server: int | None, token: int | None, now: float, detail: str = ""
    ) -> list[Action]:
        return self._route(server, now, lambda m: m.network_error(token, now, detail))

    def timer_fired(self, server: int | None, timer: Timer, now: float) -> list[Action]:
        return self._route(server, now, lambda m: m.timer_fired(timer, now))

    def bootstrap_activity(self, now: float) -> list[Action]:
        """A bootstrap operation arrived (see :meth:`BootstrapMachine.activity`)."""
        if self.bootstrap is None or not self._running:
            return []
        return self.bootstrap.activity(now)

    def bootstrap_finish(
        self, security: ObjectValues, server: ObjectValues, now: float
    ) -> list[Action]:
        """Bootstrap-Finish with the Security and Server values as written.

        Answers (an :class:`AnswerFinish` in the actions) and, when accepted,
        starts registering with the new accounts.
        """
        if self.bootstrap is None:
            return [AnswerFinish(_BAD_REQUEST)]
        out = self.bootstrap.finish(now, check_bootstrap_config(security, server))
        if self.bootstrap.state is BsState.DONE:
            accounts = server_accounts(security, server, queue_mode=self.settings.queue_mode)
            out += self.set_servers(accounts, now)
        return out

    def _route(
        self,
        server: int | None,
        now: float,
        call: Callable[[RegistrationMachine | BootstrapMachine], list[Action]],
    ) -> list[Action]:
        machine = self.machine(server)
        if machine is None:
            log.warning("input for unknown server %r ignored", server)
            return []
        out = call(machine)
        if server is not None:
            out += self._advance_order(now)
        return out + self._fall_back(now)

    def _fall_back(self, now: float) -> list[Action]:
        bs = self.bootstrap
        if bs is None or not self._running or bs.state not in (BsState.IDLE, BsState.DONE):
            return []
        # The registrations under way: accounts held back by the order never started.
        tried = [
            m
            for m in self.servers.values()
            if m.state is not RegState.IDLE or m.registration_failed
        ]
        if not tried or not all(m.exhausted for m in tried):
            return []
        out: list[Action] = [
            Event(RdEvent.REGISTRATION_FAILURE, None, "every server failed: bootstrap", now)
        ]
        for machine in self.servers.values():
            out += machine.stop(now, deregister=False)
            machine._reset_procedure()
        return out + bs.start(now)
