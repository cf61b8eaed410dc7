"""Peer values in error messages: a bignum or a megabyte of text must not make the message.

``str()`` of a huge integer takes quadratic time and, past 4300 digits, raises
ValueError; a name or token of a megabyte would make a message of a megabyte.
"""

from __future__ import annotations

__all__ = ["int_text", "shown"]

_SHOWN_BITS = 128
_SHOWN_CHARS = 40


def int_text(value: int) -> str:
    """``str(value)`` for an integer of up to 128 bits, else its size ("a 4000-bit integer")."""
    bits = value.bit_length()
    if bits <= _SHOWN_BITS:
        return str(value)
    return f"{'a negative' if value < 0 else 'a'} {bits}-bit integer"


def shown(value: object) -> str:
    """``repr(value)`` of a short text, else its first 40 characters and its length."""
    if isinstance(value, str | bytes) and len(value) > _SHOWN_CHARS:
        return f"{value[:_SHOWN_CHARS]!r}... ({len(value)} long)"
    return repr(value)
