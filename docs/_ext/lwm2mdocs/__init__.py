"""Sphinx directives that generate reference pages from the code and the tests.

* ``lwm2m-cli`` (:mod:`.cli`): every ``lwm2m`` sub-command, from the argparse
  parser the command itself builds;
* ``lwm2m-rest-routes`` (:mod:`.rest`): the routes of the REST applications,
  checked against the page's documented entries (an undocumented route, or an
  entry that matches no route, is a build error);
* ``lwm2m-conformance`` (:mod:`.conformance`): the OMA ETS cases the tests
  cover (from the ``test_int_NNN_...`` names), the content formats and the
  object definitions.

Each reports problems as Sphinx warnings, which ``make docs`` (``-W``) turns
into errors.
"""

from __future__ import annotations

from typing import Any

from sphinx.application import Sphinx

from . import cli, conformance, rest


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("lwm2m-cli", cli.CliDirective)
    app.add_directive("lwm2m-rest-routes", rest.RestRoutesDirective)
    app.add_directive("lwm2m-conformance", conformance.ConformanceDirective)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
