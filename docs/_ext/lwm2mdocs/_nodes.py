"""Small docutils node builders shared by the directives."""

from __future__ import annotations

from collections.abc import Sequence

from docutils import nodes

Cell = str | nodes.Node | Sequence[nodes.Node]


def _cell(content: Cell) -> nodes.entry:
    entry = nodes.entry()
    if isinstance(content, str):
        entry += nodes.paragraph(text=content)
    elif isinstance(content, nodes.Node):
        entry += (
            content if not isinstance(content, nodes.Inline) else nodes.paragraph("", "", content)
        )
    else:
        para = nodes.paragraph()
        for node in content:
            para += node
        entry += para
    return entry


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Cell]], widths: Sequence[int]
) -> nodes.table:
    """A table with a header row; each cell is text, an inline node or a list of them."""
    tbl = nodes.table(classes=["lwm2m-generated"])
    group = nodes.tgroup(cols=len(headers))
    tbl += group
    for width in widths:
        group += nodes.colspec(colwidth=width)
    head = nodes.thead()
    group += head
    row = nodes.row()
    for header in headers:
        row += _cell(header)
    head += row
    body = nodes.tbody()
    group += body
    for cells in rows:
        row = nodes.row()
        for content in cells:
            row += _cell(content)
        body += row
    return tbl


def literals(texts: Sequence[str], separator: str = ", ") -> list[nodes.Node]:
    """Inline literals separated by ``separator``."""
    out: list[nodes.Node] = []
    for i, text in enumerate(texts):
        if i:
            out.append(nodes.Text(separator))
        out.append(nodes.literal(text=text))
    return out


def section(title: str, ident: str) -> nodes.section:
    sec = nodes.section(ids=[nodes.make_id(ident)], names=[nodes.fully_normalize_name(ident)])
    sec += nodes.title(text=title)
    return sec
