"""Execute arguments (LwM2M Core TS 1.0.2 section 5.4.5 / 1.1 section 5.4.5).

The payload of an Execute is a list of arguments separated by commas; each is
a digit 0-9, optionally followed by ``='value'`` where the value is any text
without a single quote::

    arglist = arg *( "," arg )
    arg     = DIGIT [ "=" "'" *CHAR "'" ]
"""

from __future__ import annotations

from lwm2m.errors import BadRequest


def parse_execute_args(text: str) -> dict[int, str | None]:
    """Parse ``0='a',1`` into ``{0: "a", 1: None}``; raise BadRequest (4.00) when malformed."""
    args: dict[int, str | None] = {}
    i, n = 0, len(text)
    if n == 0:
        return args
    while True:
        if i >= n or not ("0" <= text[i] <= "9"):
            raise BadRequest(f"execute arguments: a digit expected at position {i}")
        num = int(text[i])
        if num in args:
            raise BadRequest(f"execute arguments: argument {num} given twice")
        i += 1
        value: str | None = None
        if i < n and text[i] == "=":
            if i + 1 >= n or text[i + 1] != "'":
                raise BadRequest(f"execute arguments: quote expected at position {i + 1}")
            end = text.find("'", i + 2)
            if end < 0:
                raise BadRequest("execute arguments: unterminated quoted value")
            value = text[i + 2 : end]
            i = end + 1
        args[num] = value
        if i == n:
            return args
        if text[i] != ",":
            raise BadRequest(f"execute arguments: ',' expected at position {i}")
        i += 1
