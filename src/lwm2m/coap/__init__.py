"""CoAP (RFC 7252) with Observe (RFC 7641) and block-wise transfer (RFC 7959).

Modules: :mod:`.numbers` (types, codes, option numbers, content formats),
:mod:`.message` (codec), :mod:`.layer` (sans-IO message layer),
:mod:`.blockwise` and :mod:`.observe` (sans-IO helpers), :mod:`.endpoint`
(the asyncio shell: one socket, client and server at once).
"""

from .endpoint import Endpoint, Handler
from .errors import (
    BadResponse,
    EndpointClosed,
    RequestError,
    RequestTimeout,
    ResetReceived,
    TransportError,
)
from .layer import MessageLayer, TransmissionParams
from .limits import Limits
from .message import BlockOption, Message
from .numbers import Code, ContentFormat, OptionNumber, Type
from .observe import Observation, ServerObservation

__all__ = [
    "BadResponse",
    "BlockOption",
    "Code",
    "ContentFormat",
    "Endpoint",
    "EndpointClosed",
    "Handler",
    "Limits",
    "Message",
    "MessageLayer",
    "Observation",
    "OptionNumber",
    "RequestError",
    "RequestTimeout",
    "ResetReceived",
    "ServerObservation",
    "TransmissionParams",
    "TransportError",
    "Type",
]
