"""Sphinx configuration of the lwm2m documentation (``make docs``).

Prose is Markdown (MyST); the API reference is autodoc of the docstrings with
their type hints; the CLI and REST references and the conformance page are
generated at build time by the local extension in ``_ext/lwm2mdocs``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))
sys.path.insert(0, str(HERE.parent / "src"))

import lwm2m  # noqa: E402  (after the path set-up)

project = "lwm2m"
author = "The lwm2m authors"
copyright = "the lwm2m authors, Apache License 2.0"
release = lwm2m.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "myst_parser",
    "lwm2mdocs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_member_order = "bysource"
autodoc_class_signature = "separated"
autodoc_default_options = {"members": True, "show-inheritance": True}

html_theme = "furo"
html_title = f"lwm2m {release}"
html_static_path: list[str] = []
html_show_sourcelink = False
smartquotes = False
