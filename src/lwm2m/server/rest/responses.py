"""How every route of the REST APIs answers: one place, so that all answer alike.

The contract is Eclipse Leshan 2.x's demo servers, which tools and test suites
written for Leshan expect:

* an LwM2M operation that reached the device answers HTTP 200 with a response
  object ``{"status": "CONTENT(205)", "valid": true, "success": true, "failure":
  false, ...}``; the status is the CoAP code's name and number (:func:`status_text`),
  and ``errormessage`` appears only on a failure that carried a diagnostic payload;
* anything refused before a request is sent (unknown endpoint, bad path, bad
  parameter, a body that does not parse) answers HTTP 400 with a ``text/plain``
  reason, as Leshan's servlets do; a device that does not answer in time is 504
  ``Request timeout``; an answer that cannot be used is 500 ``Invalid Response:
  ...``.

:class:`HttpError` is raised anywhere below a handler and turned into its text
answer by :func:`error_middleware`, which also keeps any other exception from
escaping as a crash (500, logged).
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Final

from aiohttp import web

from lwm2m.coap.numbers import Code

__all__ = [
    "HttpError",
    "Json",
    "RestInputError",
    "error_middleware",
    "failure",
    "json_response",
    "query_value",
    "read_json",
    "status_text",
    "success",
    "text_error",
]

log = logging.getLogger(__name__)

Json = Any
"""A value that ``json.dumps`` accepts (or that ``json.loads`` returned)."""

dumps: Final = functools.partial(json.dumps, separators=(",", ":"), allow_nan=False)

#: Request bodies past this size are refused (413) before they are parsed.
MAX_BODY: Final = 4 * 1024 * 1024


class RestInputError(ValueError):
    """A request parameter or body of the REST API is not valid (HTTP 400)."""


class HttpError(Exception):
    """Answer the request with ``status`` and ``text`` as a text/plain body."""

    def __init__(self, status: int, text: str) -> None:
        super().__init__(text)
        self.status = status
        self.text = text


def status_text(code: int) -> str:
    """A CoAP response code as Leshan 2.x shows it: ``CONTENT(205)``, ``NOT_FOUND(404)``.

    Codes without a name in RFC 7252 (and its registry) are ``UNKNOWN(431)``.
    """
    number = (code >> 5) * 100 + (code & 0x1F)
    try:
        name = Code(code).name
    except ValueError:
        name = "UNKNOWN"
    return f"{name}({number})"


def success(code: int, **fields: Json) -> dict[str, Json]:
    """The response object of an operation the device accepted."""
    return {"status": status_text(code), "valid": True, "success": True, "failure": False, **fields}


def failure(code: int, message: str | None) -> dict[str, Json]:
    """The response object of an operation the device refused (4.xx/5.xx)."""
    body: dict[str, Json] = {
        "status": status_text(code),
        "valid": True,
        "success": False,
        "failure": True,
    }
    if message:
        body["errormessage"] = message
    return body


def json_response(body: Json, status: int = 200) -> web.Response:
    return web.json_response(body, status=status, dumps=dumps)


def text_error(status: int, text: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=text, content_type="text/plain", headers=headers)


def query_value(request: web.Request, name: str) -> str | None:
    """The value of query parameter ``name``; 400 when it is given more than once."""
    values = request.query.getall(name, [])
    if len(values) > 1:
        raise RestInputError(f"query parameter {name!r} given {len(values)} times")
    return values[0] if values else None


async def read_json(request: web.Request) -> Json:
    """The request body as JSON (None when empty); 400 naming the problem otherwise."""
    raw = await request.read()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RestInputError(f"the body is not JSON: {exc}") from None
    except (RecursionError, ValueError) as exc:  # nesting too deep, integer too long
        raise RestInputError(f"the body is not acceptable JSON: {exc}") from None


@web.middleware
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every refusal becomes a text answer; nothing a request does escapes as a crash."""
    try:
        return await handler(request)
    except HttpError as exc:
        return text_error(exc.status, exc.text)
    except RestInputError as exc:
        return text_error(400, f"Invalid request: {exc}")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        allow = exc.headers.get("Allow")
        return text_error(exc.status, exc.reason, {"Allow": allow} if allow is not None else None)
    except Exception:
        log.exception("REST %s %s failed", request.method, request.path)
        return text_error(500, "Unexpected exception: internal error (see the server log)")
