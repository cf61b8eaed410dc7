"""Argument types shared by the sub-commands: each rejects bad input with a clear message."""

from __future__ import annotations

import argparse


def port(text: str) -> int:
    """A UDP/TCP port; 0 means "pick a free one"."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"port must be an integer, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} out of range 0..65535")
    return value


def hex_key(text: str) -> bytes:
    """A non-empty key written in hex."""
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"key must be hex, got {text!r}") from None
    if not key:
        raise argparse.ArgumentTypeError("key must not be empty")
    return key
