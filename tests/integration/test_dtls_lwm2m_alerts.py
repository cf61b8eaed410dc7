"""Naming the peer's fatal alert in a failed handshake (the client's event detail)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from lwm2m.transport.dtls_session import plaintext_alert


def _record(content: int, epoch: int, body: bytes) -> bytes:
    header = bytes([content, 0xFE, 0xFD]) + epoch.to_bytes(2, "big") + bytes(6)
    return header + len(body).to_bytes(2, "big") + body


def test_plaintext_alert_found_after_other_records() -> None:
    datagram = _record(22, 0, b"\x02" + bytes(20)) + _record(21, 0, b"\x02\x73")
    assert plaintext_alert(datagram) == 115  # unknown_psk_identity


def test_encrypted_or_truncated_alerts_are_not_read() -> None:
    assert plaintext_alert(_record(21, 1, b"\x02\x33")) is None  # epoch 1: encrypted
    assert plaintext_alert(_record(21, 0, b"\x02\x33")[:-1]) is None
    assert plaintext_alert(_record(23, 0, b"\x02\x33")) is None
    assert plaintext_alert(b"") is None


@given(st.binary(max_size=200))
def test_plaintext_alert_never_raises(data: bytes) -> None:
    result = plaintext_alert(data)
    assert result is None or 0 <= result <= 255
