"""``.. lwm2m-conformance:: ets|formats|objects``: conformance tables from the tests and the code.

* ``ets`` -- the OMA ETS interoperability cases (``LightweightM2M-1.x-int-NNN``)
  and the tests that cover each, found by name: a test function called
  ``test_int_NNN_...`` (or ``test_int_NNN_MMM_...`` for two cases) anywhere
  under ``tests/`` covers case NNN. Numbers below 100 are the bootstrap cases
  ``int-N``. A case without a test says so; a test naming a case that is not
  in the catalogue below is listed at the end.
* ``formats`` -- the content formats of :mod:`lwm2m.formats`, with what each
  can carry according to :func:`lwm2m.formats.supports`.
* ``objects`` -- the object definitions of the built-in registry, every
  version, and the class of :mod:`lwm2m.objects` that implements the object.
"""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from ._nodes import Cell, literals, table

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[3]
TESTS = ROOT / "tests"

#: The ETS interoperability cases this stack aims at, by number (int-N for N < 100).
ETS_CASES: dict[int, str] = {
    0: "Client-initiated bootstrap: Bootstrap-Request, /0 and /1 written, Finish, Register",
    1: "Client-initiated bootstrap over DTLS with a pre-shared key",
    2: "Client-initiated bootstrap over DTLS with certificates",
    4: "Bootstrap-Delete",
    5: "Server-initiated bootstrap",
    6: "The whole bootstrap sequence",
    7: "Fall back to bootstrap after registration fails",
    8: "Bootstrap-Read (and Bootstrap-Discover)",
    9: "Bootstrap configuration consistency",
    101: "Initial Register: ep, lt, lwm2m, b and the object links in link format",
    102: "Update after the server writes the lifetime /1/0/1",
    103: "De-register after Disable /1/0/4; register again after the disable timeout",
    104: "Update after Registration Update Trigger /1/0/8",
    105: "Update answered 4.04: the client falls back to a full Register",
    107: "Lifetime extension",
    108: "Queue mode on",
    109: "Queue-mode behaviour: the client sleeps, the server waits",
    201: "Read Device resources as plain text",
    202: "Read Device resources as opaque",
    203: "Read /3/0 as TLV",
    204: "Read /3/0 as OMA JSON",
    205: "Write as plain text",
    210: "Write as opaque",
    211: "Read single values as CBOR",
    212: "Write single values as CBOR",
    215: "Write /1/0 as TLV, partial update and replace",
    220: "Write /1/0 as JSON, partial update and replace",
    221: "Any server operation on the Security object is refused",
    222: "Read an object",
    223: "Read an object instance",
    224: "Read a resource",
    225: "Read a resource instance",
    226: "Partial-update Write",
    227: "Replace Write on a resource",
    228: "Write on a resource instance",
    229: "Read-Composite",
    230: "Write-Composite",
    231: "SenML JSON read",
    232: "SenML JSON write",
    233: "SenML CBOR read",
    234: "SenML CBOR write",
    235: "Read-Composite on the root path",
    236: "Read-Composite on partly present paths",
    237: "Read without Accept: the client's default format",
    241: "Execute Reboot",
    256: "A failed Write leaves the data unchanged",
    257: "Write-Composite",
    260: "Discover, with attributes in the answer",
    261: "Write-Attributes on a multiple resource",
    270: "Create an object instance",
    271: "Create a multiple resource instance",
    280: "Successful Read-Composite",
    281: "Partially successful Read-Composite",
    290: "Delete an object instance",
    301: "Observe with pmin/pmax; notifications respect them",
    302: "Cancel an observation with RST",
    303: "Cancel an observation with GET Observe=1",
    304: "Observe-Composite",
    305: "Cancel Observe-Composite",
    306: "Send",
    307: "Mute Send (/1/x/23)",
    308: "Observe-Composite with a Create",
    309: "Observe-Composite with a Delete",
    310: "Observe-Composite with a value change",
    311: "Send triggered on command",
    401: "UDP with DTLS in pre-shared-key mode",
    551: "Server object: access check",
    555: "Server object: Disable",
    556: "Server object: Registration Update Trigger",
    560: "Notification storing while offline (/1/x/6)",
    651: "Device object: readable resources",
    652: "Device object: firmware version",
    655: "Device object: Reboot",
    656: "Device object: Factory Reset",
    657: "Device object: Error Code",
    660: "Device object: basic observation",
    661: "Device object: extended observation",
    680: "Create on the Device object fails with the right code",
    685: "Delete on the Device instance fails with the right code",
    701: "Connectivity Monitoring: Read",
    705: "Connectivity Monitoring: Write",
    710: "Connectivity Monitoring: Observe",
    751: "Firmware Update: Read",
    755: "Firmware Update: Write Package",
    756: "Firmware Update: Write Package URI",
    760: "Firmware Update: Observe State",
    770: "Firmware update over CoAP push (Block1)",
    771: "Firmware update over a Package URI pull",
    772: "Firmware update error: no package",
    773: "Firmware update error: not enough storage",
    774: "Firmware update error: out of memory",
    775: "Firmware update error: connection lost",
    776: "Firmware update error: integrity check failure",
    777: "Firmware update error: unsupported package type",
    778: "Firmware update error: invalid URI",
    779: "Firmware update error: update failed",
    780: "Firmware update error: unsupported protocol",
    801: "Location: Read",
    805: "Location: Write",
    810: "Location: Observe",
    901: "Connectivity Statistics: Read",
    905: "Connectivity Statistics: Write",
    910: "Connectivity Statistics: Observe",
    950: "Registration with several servers",
    951: "Attributes per server",
}

_TEST_NAME = re.compile(r"^test_int_((?:\d+_)*\d+)(?:_|$)")


def case_label(number: int) -> str:
    return f"int-{number}" if number < 100 else str(number)


def ets_tests(root: Path = TESTS) -> dict[int, list[str]]:
    """Case number -> the tests naming it (``path::name``), from every test module."""
    found: dict[int, list[str]] = {}
    for file in sorted(root.rglob("test_*.py")):
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            match = _TEST_NAME.match(node.name)
            if match is None:
                continue
            where = f"{file.relative_to(root.parent).as_posix()}::{node.name}"
            for number in (int(n) for n in match.group(1).split("_")):
                found.setdefault(number, []).append(where)
    return found


class ConformanceDirective(SphinxDirective):
    required_arguments = 1
    has_content = False

    def run(self) -> list[nodes.Node]:
        kind = self.arguments[0]
        self.env.note_reread()  # generated from code and tests: read again at every build
        if kind == "ets":
            return self._ets()
        if kind == "formats":
            return self._formats()
        if kind == "objects":
            return self._objects()
        log.warning(
            "lwm2m-conformance: unknown table %r", kind, location=(self.env.docname, self.lineno)
        )
        return []

    def _ets(self) -> list[nodes.Node]:
        tests = ets_tests()
        if not tests:
            log.warning(
                "no test_int_* test found under %s", TESTS, location=(self.env.docname, self.lineno)
            )
        rows: list[list[Cell]] = []
        for number, behaviour in ETS_CASES.items():
            names = tests.get(number, [])
            short = [n.split("::")[1] for n in names]
            cell: Cell = [nodes.Text(f"{len(names)}: "), *literals(short)]
            rows.append([case_label(number), behaviour, cell if names else "no test yet"])
        covered = sum(1 for number in ETS_CASES if tests.get(number))
        total = sum(len(v) for v in tests.values())
        out: list[nodes.Node] = [
            nodes.paragraph(
                text=f"{covered} of the {len(ETS_CASES)} cases below have at least one test; "
                f"{total} test functions name a case (generated from the test names when "
                "this page is built)."
            ),
            table(["case", "behaviour", "tests"], rows, [8, 40, 52]),
        ]
        extra = sorted(n for n in tests if n not in ETS_CASES)
        if extra:
            out.append(nodes.paragraph(text="Tests that name a case outside this list:"))
            out.append(
                table(
                    ["case", "tests"],
                    [[case_label(n), literals(tests[n])] for n in extra],
                    [10, 90],
                )
            )
        return out

    def _formats(self) -> list[nodes.Node]:
        from lwm2m import formats
        from lwm2m.model import InstanceNode, Path, ResourceNode

        text, opaque = ResourceNode(0, "text"), ResourceNode(0, b"\x01")
        instance = InstanceNode(0, {0: text})
        records = {Path(3, 0, 0): "text"}

        def carries(cf: int) -> list[Cell]:
            """One value, an instance, the root path with composite records: yes or no."""
            if cf not in formats.ALL_FORMATS:  # a number read as another format
                return ["as 11543"] * 3
            one = formats.supports(cf, Path(3, 0, 0), text) or formats.supports(
                cf, Path(3, 0, 0), opaque
            )
            checks = (one, formats.supports(cf, Path(3, 0), instance))
            checks += (formats.supports(cf, Path(), records),)
            return ["yes" if ok else "no" for ok in checks]

        rows: list[list[Cell]] = []
        for cf in formats.DECODE_FORMATS:
            written = "read and written" if cf in formats.ALL_FORMATS else "read only"
            rows.append([literals([str(int(cf))]), formats.format_name(cf), written, *carries(cf)])
        headers = ["number", "media type", "here", "one value", "instance", "root / composite"]
        return [table(headers, rows, [8, 34, 14, 12, 12, 20])]

    def _objects(self) -> list[nodes.Node]:
        import lwm2m.objects
        from lwm2m.model import default_registry

        implemented: dict[int, list[str]] = {}
        for module_name in _object_modules():
            module = __import__(module_name, fromlist=["_"])
            for name, cls in inspect.getmembers(module, inspect.isclass):
                oid = getattr(cls, "object_id", None)
                if (
                    cls.__module__ == module_name
                    and isinstance(oid, int)
                    and not name.startswith("_")
                ):
                    implemented.setdefault(oid, []).append(
                        f"{module_name.removeprefix('lwm2m.objects.')}.{name}"
                    )
        assert lwm2m.objects  # imported for the package path
        rows: list[list[Cell]] = []
        for obj in sorted(default_registry().all_versions(), key=lambda o: (o.id, o.version)):
            classes = sorted(set(implemented.get(obj.id, [])))
            rows.append(
                [
                    str(obj.id),
                    obj.name,
                    obj.version,
                    "multiple" if obj.multiple else "single",
                    str(len(obj.resources)),
                    literals(classes) if classes else "",
                ]
            )
        return [
            table(
                [
                    "id",
                    "object",
                    "version",
                    "instances",
                    "resources",
                    "implemented by (lwm2m.objects)",
                ],
                rows,
                [6, 30, 8, 10, 10, 36],
            )
        ]


def _object_modules() -> list[str]:
    import pkgutil

    import lwm2m.objects

    names = []
    for info in pkgutil.walk_packages(lwm2m.objects.__path__, "lwm2m.objects."):
        if not info.name.rsplit(".", 1)[-1].startswith("_"):
            names.append(info.name)
    return names
