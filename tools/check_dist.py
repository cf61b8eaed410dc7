"""Check the contents of a built release: ``python tools/check_dist.py DIST_DIR``.

``DIST_DIR`` holds one sdist (``.tar.gz``) and one wheel (``.whl``), as
``python -m build`` leaves them. Checked, beside what ``twine check`` covers:

* both carry the version of ``pyproject.toml`` and of ``lwm2m.__version__``;
* the wheel holds every module of ``src/lwm2m``, the web UI's static files
  (``lwm2m/server/ui/static/**``), ``py.typed``, the license, and the
  ``lwm2m`` console script;
* the sdist holds the sources, the static files, the README, the license and
  ``pyproject.toml``.

Prints one line per check and exits 1 naming what is missing.
"""

from __future__ import annotations

import re
import sys
import tarfile
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "lwm2m"


def expected_package_files() -> list[str]:
    """Every file the wheel must hold under ``lwm2m/``: modules, UI assets, py.typed."""
    out = []
    for path in sorted(PACKAGE.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if path.suffix == ".py" or "/ui/static/" in rel or path.name == "py.typed":
            out.append(rel)
    return out


def package_version() -> str:
    text = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    found = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    if found is None:
        raise SystemExit("src/lwm2m/__init__.py has no __version__")
    return found.group(1)


def check_wheel(wheel: Path, version: str, problems: list[str]) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        dist_info = f"lwm2m-{version}.dist-info"
        missing = [name for name in expected_package_files() if name not in names]
        problems += [f"{wheel.name}: missing {name}" for name in missing]
        static = [n for n in names if n.startswith("lwm2m/server/ui/static/")]
        typed = "present" if "lwm2m/py.typed" in names else "MISSING"
        print(f"wheel: {len(names)} files, {len(static)} web UI files, py.typed {typed}")
        if f"{dist_info}/licenses/LICENSE" not in names:
            problems.append(f"{wheel.name}: no {dist_info}/licenses/LICENSE")
        metadata = archive.read(f"{dist_info}/METADATA").decode("utf-8")
        if f"\nVersion: {version}\n" not in metadata:
            problems.append(f"{wheel.name}: METADATA does not say Version: {version}")
        if "License-Expression: Apache-2.0" not in metadata:
            problems.append(f"{wheel.name}: METADATA has no License-Expression: Apache-2.0")
        entry_points = archive.read(f"{dist_info}/entry_points.txt").decode("utf-8")
        if "lwm2m = lwm2m.cli.main:main" not in entry_points:
            problems.append(f"{wheel.name}: no lwm2m console script")


def check_sdist(sdist: Path, version: str, problems: list[str]) -> None:
    top = f"lwm2m-{version}"
    with tarfile.open(sdist) as archive:
        names = {name.removeprefix(f"{top}/") for name in archive.getnames()}
    wanted = ["README.md", "LICENSE", "pyproject.toml"]
    wanted += [f"src/{name}" for name in expected_package_files()]
    problems += [f"{sdist.name}: missing {name}" for name in wanted if name not in names]
    print(f"sdist: {len(names)} files")


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    dist = Path(argv[1])
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "version"
    ]
    problems: list[str] = []
    if package_version() != version:
        problems.append(f"lwm2m.__version__ {package_version()} != pyproject.toml {version}")
    wheels = sorted(dist.glob("*.whl"))
    sdists = sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        problems.append(f"{dist}: expected one wheel and one sdist, found {wheels + sdists}")
    else:
        if wheels[0].name != f"lwm2m-{version}-py3-none-any.whl":
            problems.append(f"unexpected wheel name {wheels[0].name}")
        check_wheel(wheels[0], version, problems)
        check_sdist(sdists[0], version, problems)
    for problem in problems:
        print(f"release check: {problem}", file=sys.stderr)
    if not problems:
        print(f"release check: lwm2m {version}: sdist and wheel complete")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
