"""The HTTP REST APIs of the server and the bootstrap server (aiohttp).

The routes, JSON shapes and status codes are those of Eclipse Leshan 2.x's demo
servers, so tools, dashboards and test suites written for Leshan work unchanged.
One module per resource family:

* :mod:`~lwm2m.server.rest.clients` -- ``/api/clients``: registrations and every
  device-management operation;
* :mod:`~lwm2m.server.rest.events` -- ``/api/event``: server-sent events;
* :mod:`~lwm2m.server.rest.security` -- ``/api/security/clients`` and
  ``/api/server/...``: DTLS credentials;
* :mod:`~lwm2m.server.rest.objectspecs` -- ``/api/objectspecs``: object models;
* :mod:`~lwm2m.server.rest.bootstrap` -- the bootstrap server's ``/api/bootstrap``.

:mod:`~lwm2m.server.rest.responses` builds every answer (``status`` as
``NAME(code)``, text refusals), :mod:`~lwm2m.server.rest.nodes` and
:mod:`~lwm2m.server.rest.registrations` the JSON shapes.
"""

from lwm2m.server.rest.app import create_app

__all__ = ["create_app"]
