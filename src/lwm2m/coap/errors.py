"""Why a CoAP request (or a confirmable message) did not get a usable answer.

A response with an error code (4.xx, 5.xx) is not an exception: it is returned
to the caller like any other response. These exceptions mean there was no
response to return.
"""

from __future__ import annotations

from lwm2m.errors import Lwm2mError

__all__ = [
    "BadResponse",
    "EndpointClosed",
    "RequestError",
    "RequestTimeout",
    "ResetReceived",
    "TransportError",
]


class RequestError(Lwm2mError):
    """Base class: the request failed without a response."""


class RequestTimeout(RequestError):
    """No ACK after MAX_RETRANSMIT retransmissions, or no response in time."""


class ResetReceived(RequestError):
    """The peer answered with RST (RFC 7252 section 4.2/4.3)."""


class TransportError(RequestError):
    """The datagram transport reported an error (e.g. ICMP port unreachable)."""


class BadResponse(RequestError):
    """The response was unusable: unknown critical option, block-wise mismatch, ..."""


class EndpointClosed(RequestError):
    """The endpoint was closed while the request was pending."""
