"""Bounds on the state that peers can make an endpoint hold.

Everything a peer can open (a block-wise transfer, a request whose handler
is still running, an observation, a DTLS handshake) costs memory until it
ends. :class:`Limits` gathers the bounds, per peer and in total, in one
place::

    limits = Limits(block1_per_peer=4, dtls_handshakes_total=128)
    ep = Endpoint(transport, limits=limits)
    server = lwm2m.Server(..., limits=limits)
    dtls = await DtlsServerTransport.create(host, port, psk_store=keys,
                                            **limits.dtls_options())

A peer is a transport address (host and port) for CoAP; for DTLS the
per-address bounds count per host (IP address), because a host can open
handshakes from as many ports as it likes.

When a bound is reached, the peer gets an answer it can act on, and the log
one warning line per kind of bound and ``warning_interval`` (the next line
says how many were not logged):

* a request body over ``max_body_size``: 4.13 Request Entity Too Large with
  Size1 (RFC 7252 5.9.2.9, RFC 7959 2.9.3); it is never accepted later, so
  there is no Max-Age;
* a new Block1 transfer beyond the per-peer or total count, a block that
  would take the buffered Block1 bytes beyond ``block1_buffered_total``, a
  request while the peer (or everyone) has too many handlers running or
  separate responses unacknowledged: 5.03 Service Unavailable with Max-Age
  ``retry_after`` (RFC 7252 5.9.3.4: the client may retry after that many
  seconds). A refused Block1 block leaves its transfer as it was, so the
  same block can be sent again;
* a new observation beyond the per-peer or total count: the GET is answered
  as a plain GET, without the Observe option (RFC 7641 4.1: "the request
  falls back to a normal GET request"), which tells the observer it was not
  added;
* Block2 responses kept for later blocks: the oldest entry of the same peer
  (per-peer bound) or the oldest one overall (total bound) is dropped; a
  response over ``max_body_size`` is not kept (a later block runs the handler
  again);
* a DTLS ClientHello beyond the handshake or session bounds is dropped
  before Mbed TLS sees it; the client retransmits it on its own timer.

Partial transfers are dropped ``transfer_timeout`` seconds after their last
block (Block1) or after the response was made (Block2), and half-open DTLS
handshakes ``dtls_handshake_timeout`` seconds after their last message, by a
timer: no further traffic is needed.

Why these defaults:

* ``max_body_size`` 1 MiB: the largest body LwM2M exchanges whole (a big
  Write or a firmware package pushed to a handler that reassembles); larger
  firmware goes through a streamed Block1 route, which buffers nothing;
* 8 Block1 transfers per peer and 256 in total: a client or server has one
  or two bodies in flight (NSTART is 1); 256 lets a fleet register with large
  link lists at the same time, and 256 x 1 MiB is capped further by
  ``block1_buffered_total`` = 32 MiB of reassembly buffers;
* 8 Block2 responses per peer, 256 in total (the cache's earlier size);
* ``transfer_timeout`` None = EXCHANGE_LIFETIME (247 s with the RFC 7252
  defaults): a client gives up on a block after MAX_TRANSMIT_WAIT (93 s), so a
  transfer idle that long is abandoned;
* 16 requests being handled per peer, 1024 in total: a conforming peer has
  NSTART = 1 request outstanding, and each empty ACK lets it send another;
  16 leaves room for proxies and NATs, the total bounds the tasks of a server;
* 256 observations per peer, 4096 in total: an LwM2M server observes a few
  resources per object instance; each costs about a kilobyte;
* 5.03 Max-Age 10 s: long enough to let a transfer or handshake finish, short
  enough that a client retrying is not slowed down much;
* DTLS: a half-open handshake costs 30 to 80 KB (Mbed TLS record buffers and
  the handshake state), so 256 handshakes in total (at most ~20 MB) and 32 per
  host; 10,000 sessions in total (the transport's earlier bound) and 1,000
  per host, enough for devices behind one carrier NAT or a test fleet on one
  machine; a fleet of more DTLS clients on one address raises it;
  handshakes expire after 30 s, sessions after 10 idle minutes;
* 200,000 remembered messages for deduplication (RFC 7252 4.5), in total:
  each holds the answer sent, so a repeated request gets the same one during
  EXCHANGE_LIFETIME; the oldest go first past the bound (about 800 messages a
  second for the whole 247 s).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TypedDict

from .message import Message, encode_uint
from .numbers import Code, OptionNumber

__all__ = [
    "DtlsLimitOptions",
    "Limits",
    "PeerCounts",
    "WarningGate",
    "service_unavailable",
]

_MAX_AGE = int(OptionNumber.MAX_AGE)


class DtlsLimitOptions(TypedDict):
    """Keyword arguments of ``DtlsServerTransport.create`` that :class:`Limits` sets."""

    max_sessions: int
    max_sessions_per_address: int
    max_handshakes: int
    max_handshakes_per_address: int
    handshake_timeout: float
    idle_timeout: float
    warning_interval: float


@dataclass(frozen=True, slots=True)
class Limits:
    """Per-peer and total bounds (see the module docstring for the defaults)."""

    max_body_size: int = 1 << 20
    block1_per_peer: int = 8
    block1_total: int = 256
    block1_buffered_total: int = 32 << 20
    block2_per_peer: int = 8
    block2_total: int = 256
    transfer_timeout: float | None = None
    pending_per_peer: int = 16
    pending_total: int = 1024
    observations_per_peer: int = 256
    observations_total: int = 4096
    retry_after: int = 10
    warning_interval: float = 60.0
    dtls_handshakes_per_address: int = 32
    dtls_handshakes_total: int = 256
    dtls_sessions_per_address: int = 1000
    dtls_sessions_total: int = 10_000
    dtls_handshake_timeout: float = 30.0
    dtls_idle_timeout: float = 600.0
    dedup_total: int = 200_000

    def __post_init__(self) -> None:
        for name in (
            "max_body_size",
            "block1_per_peer",
            "block1_total",
            "block1_buffered_total",
            "block2_per_peer",
            "block2_total",
            "pending_per_peer",
            "pending_total",
            "observations_per_peer",
            "observations_total",
            "dtls_handshakes_per_address",
            "dtls_handshakes_total",
            "dtls_sessions_per_address",
            "dtls_sessions_total",
            "dedup_total",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive integer, not {value!r}")
        if not 0 <= self.retry_after <= 0xFFFFFFFF:
            raise ValueError("Limits.retry_after must fit the Max-Age option (0..2**32-1)")
        for name in ("warning_interval", "dtls_handshake_timeout", "dtls_idle_timeout"):
            if not getattr(self, name) > 0:
                raise ValueError(f"Limits.{name} must be positive")
        if self.transfer_timeout is not None and not self.transfer_timeout > 0:
            raise ValueError("Limits.transfer_timeout must be positive (or None)")

    def dtls_options(self) -> DtlsLimitOptions:
        """The DTLS bounds as keyword arguments of ``DtlsServerTransport.create``."""
        return DtlsLimitOptions(
            max_sessions=self.dtls_sessions_total,
            max_sessions_per_address=self.dtls_sessions_per_address,
            max_handshakes=self.dtls_handshakes_total,
            max_handshakes_per_address=self.dtls_handshakes_per_address,
            handshake_timeout=self.dtls_handshake_timeout,
            idle_timeout=self.dtls_idle_timeout,
            warning_interval=self.warning_interval,
        )


class PeerCounts:
    """How many of one kind of thing each peer holds, against a per-peer and a total bound."""

    __slots__ = ("_counts", "per_peer", "total", "total_limit")

    def __init__(self, per_peer: int, total: int) -> None:
        self.per_peer = per_peer
        self.total_limit = total
        self.total = 0
        # None while nothing is counted: most endpoints never hold anything.
        self._counts: dict[object, int] | None = None

    def of(self, peer: object) -> int:
        counts = self._counts
        return counts.get(peer, 0) if counts is not None else 0

    def refusal(self, peer: object, extra: int = 0, extra_total: int = 0) -> str | None:
        """Which bound one more item of ``peer`` would pass ("per peer", "total"), or None.

        ``extra``/``extra_total`` add items counted elsewhere to the peer's and the total count.
        """
        if self.of(peer) + extra >= self.per_peer:
            return "per peer"
        if self.total + extra_total >= self.total_limit:
            return "total"
        return None

    def add(self, peer: object) -> None:
        counts = self._counts
        if counts is None:
            counts = self._counts = {}
        counts[peer] = counts.get(peer, 0) + 1
        self.total += 1

    def remove(self, peer: object) -> None:
        counts = self._counts
        left = self.of(peer) - 1
        if counts is None or left < 0:
            return
        if left:
            counts[peer] = left
        elif len(counts) > 1:
            del counts[peer]
        else:
            self._counts = None  # the last one: give the table back
        self.total -= 1

    def __len__(self) -> int:
        return self.total


class WarningGate:
    """Logs one warning per ``key`` and ``interval``; counts the ones it holds back.

    A flood of refused requests gives one line per interval, and the next line
    tells how many were not logged in between.
    """

    __slots__ = ("_clock", "_held", "_interval", "_logger", "_next")

    def __init__(
        self,
        logger: logging.Logger,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._next: dict[Hashable, float] = {}
        self._held: dict[Hashable, int] = {}

    def __call__(self, key: Hashable, message: str, *args: object) -> bool:
        """Log ``message % args`` unless ``key`` was logged less than ``interval`` ago."""
        now = self._clock()
        due = self._next.get(key)
        if due is not None and now < due:
            self._held[key] = self._held.get(key, 0) + 1
            return False
        self._next[key] = now + self._interval
        held = self._held.pop(key, 0)
        if held:
            message += " (%d more since the last such warning)"
            args = (*args, held)
        self._logger.warning(message, *args)
        return True


def service_unavailable(retry_after: int, text: str) -> Message:
    """5.03 Service Unavailable with Max-Age ``retry_after`` (RFC 7252 5.9.3.4)."""
    msg = Message(code=Code.SERVICE_UNAVAILABLE, payload=text.encode())
    msg.options.append((_MAX_AGE, encode_uint(retry_after)))
    return msg
