"""Registrations and Discover links as Eclipse Leshan 2.x's demo server writes them.

A registration is a JSON object with every field Leshan's has, same names and
value types, ``null`` included (Leshan writes null map values)::

    {"endpoint": "dev1", "registrationId": "r1", "registrationDate": 1700000000250,
     "lastUpdate": 1700000010500, "address": "127.0.0.1:5700", "smsNumber": null,
     "lwM2mVersion": "1.1", "lifetime": 300, "bindingMode": "U", "rootPath": "/",
     "objectLinks": [{"url": "/", "attributes": {"rt": "\\"oma.lwm2m\\"", "ct": "112"}}, ...],
     "secure": false, "additionalRegistrationAttributes": {}, "queuemode": false,
     "availableInstances": {"1": [0], "3": [0]}, "supportedContentFormats": [112, 11542],
     "sleeping": false}

Dates are milliseconds since the epoch (a Java ``Date``); ``address`` is the
host, a colon and the port, IPv6 hosts included, as Java's ``getHostAddress()``
joins them; link attribute values are written in their CoRE Link form (quoted
strings keep their quotes); ``availableInstances`` maps each object id to its
instance ids, sorted; ``sleeping`` is there only for a queue-mode client.
``supportedContentFormats`` lists the ``ct`` values of the root link (RFC 7252
numbers), empty when the client gave none.

:func:`update_to_json` is the ``update`` part of the UPDATED event: the fields an
Update carried, ``null`` for those it did not change.
"""

from __future__ import annotations

import re
from typing import Final

from lwm2m.errors import EncodeError
from lwm2m.formats import link as linkfmt
from lwm2m.server.registration import Registration, Updated
from lwm2m.server.rest.responses import Json

__all__ = ["address_text", "discover_to_json", "registration_to_json", "update_to_json"]


def address_text(address: tuple[str, int] | tuple[str, int, int, int]) -> str:
    """``host:port`` as Leshan writes it (no brackets around an IPv6 host)."""
    return f"{address[0]}:{address[1]}"


#: RFC 6690 attributes whose values are quoted strings.
_QUOTED: Final = frozenset({"rt", "if", "title", "anchor", "rel", "rev", "type", "media"})
_TOKEN: Final = re.compile(r"[!#-+\-./0-:<-\[\]-~]+")  # RFC 6690 ptoken


def _core_link_value(name: str, value: str | None) -> str | None:
    """An attribute value as written in a CoRE link: quoted where the syntax wants it."""
    if value is None:
        return None
    if name in _QUOTED or not _TOKEN.fullmatch(value):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return value


def _object_links(reg: Registration) -> list[dict[str, Json]]:
    return [
        {
            "url": link.target,
            "attributes": {k: _core_link_value(k, v) for k, v in link.params.items()},
        }
        for link in linkfmt.parse_links(reg.object_links.text)
    ]


def _available_instances(reg: Registration) -> dict[str, list[int]]:
    found: dict[int, set[int]] = {}
    for link in reg.object_links.links:
        if link.path.level == 2:
            found.setdefault(link.path[0], set()).add(link.path[1])
    return {str(oid): sorted(found[oid]) for oid in sorted(found)}


def registration_to_json(reg: Registration, *, sleeping: bool | None = None) -> dict[str, Json]:
    """A registration as the API shows it (see the module docstring).

    ``sleeping`` is written for queue-mode clients (None counts as awake).
    """
    out: dict[str, Json] = {
        "endpoint": reg.endpoint,
        "registrationId": reg.id,
        "registrationDate": round(reg.registered_at * 1000),
        "lastUpdate": round(reg.last_update * 1000),
        "address": address_text(reg.address),
        "smsNumber": reg.sms_number,
        "lwM2mVersion": reg.version,
        "lifetime": reg.lifetime,
        "bindingMode": reg.binding,
        "rootPath": reg.object_links.root_path,
        "objectLinks": _object_links(reg),
        "secure": reg.identity is not None,
        "additionalRegistrationAttributes": reg.attributes,
        "queuemode": reg.queue_mode,
        "availableInstances": _available_instances(reg),
        "supportedContentFormats": list(reg.object_links.content_formats),
    }
    if reg.queue_mode:
        out["sleeping"] = bool(sleeping)
    return out


def update_to_json(event: Updated) -> dict[str, Json]:
    """What one Update carried: the UPDATED event's ``update`` object."""
    before, after = event.previous, event.registration
    changed = event.changed
    return {
        "registrationId": after.id,
        "address": address_text(after.address),
        "smsNumber": after.sms_number if "sms_number" in changed else None,
        "lifetime": after.lifetime if "lifetime" in changed else None,
        "alternatePath": (
            after.object_links.root_path
            if after.object_links.root_path != before.object_links.root_path
            else None
        ),
        "objectLinks": _object_links(after) if "object_links" in changed else None,
        "secure": after.identity is not None,
        "additionalAttributes": after.attributes if "extra" in changed else {},
    }


def discover_to_json(entries: list[linkfmt.DiscoverEntry]) -> list[dict[str, Json]]:
    """Discover links: ``[{"url": "/3/0/7", "attributes": {"dim": "2"}}, ...]``."""
    out: list[dict[str, Json]] = []
    for entry in entries:
        attributes: dict[str, str | None] = {}
        for name, value in entry.attributes.items():
            try:
                attributes[name] = linkfmt.format_attribute(name, value)
            except EncodeError:  # an odd value the client sent: show it as text
                attributes[name] = None if value is None else str(value)
        out.append({"url": str(entry.path), "attributes": attributes})
    return out
