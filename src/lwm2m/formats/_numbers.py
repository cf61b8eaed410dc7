"""Integers in error messages: a peer's bignum must not make the message itself fail."""

from __future__ import annotations

__all__ = ["int_text"]

_SHOWN_BITS = 128


def int_text(value: int) -> str:
    """``str(value)`` for an integer of up to 128 bits, else its size ("a 4000-bit integer").

    ``str()`` of a huge integer takes quadratic time and, past 4300 digits, raises
    ValueError; neither belongs in the message of a rejected value.
    """
    bits = value.bit_length()
    if bits <= _SHOWN_BITS:
        return str(value)
    return f"{'a negative' if value < 0 else 'a'} {bits}-bit integer"
