"""Server accounts from the Security (/0) and Server (/1) objects' values.

A server account is a Security instance and a Server instance with the same
Short Server ID (Core TS 1.1 E.1, E.2). :func:`check_bootstrap_config` lists
what makes a configuration unusable (a Bootstrap-Finish is then answered
4.06); :func:`server_accounts` turns the usable part into the
:class:`ServerAccount` values the registration machines run on. Values come
as plain mappings ``{instance id: {resource id: value}}``: no store, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, TypeAlias
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_DISABLE_TIMEOUT",
    "DEFAULT_LIFETIME",
    "NO_MORE_SEQUENCES",
    "REGISTRATION_PROCEDURE_RESOURCES",
    "InstanceValues",
    "ObjectValues",
    "ServerAccount",
    "check_bootstrap_config",
    "server_accounts",
]

# Security object /0 (Core TS 1.1 E.1) resource ids.
SEC_URI, SEC_IS_BOOTSTRAP, SEC_MODE, SEC_IDENTITY, SEC_SERVER_KEY, SEC_SECRET_KEY = 0, 1, 2, 3, 4, 5
SEC_SHORT_ID, SEC_HOLD_OFF = 10, 11
# Server object /1 (E.2) resource ids.
SRV_SHORT_ID, SRV_LIFETIME, SRV_PMIN, SRV_PMAX = 0, 1, 2, 3
SRV_DISABLE, SRV_DISABLE_TIMEOUT, SRV_STORING, SRV_BINDING = 4, 5, 6, 7
SRV_UPDATE_TRIGGER, SRV_BS_TRIGGER = 8, 9
SRV_PRIORITY, SRV_INITIAL_DELAY, SRV_FAILURE_BLOCK, SRV_BOOTSTRAP_ON_FAILURE = 13, 14, 15, 16
SRV_RETRY_COUNT, SRV_RETRY_TIMER, SRV_SEQUENCE_DELAY, SRV_SEQUENCE_RETRY_COUNT = 17, 18, 19, 20
SRV_MUTE_SEND = 23
#: The registration procedure resources (Core TS 1.1 6.2.1.1, E.2) an account reads.
REGISTRATION_PROCEDURE_RESOURCES: Final = frozenset(range(13, 21))

#: Core TS 1.1 E.2 /1/x/5 Disable Timeout default, /1/x/1 Lifetime default.
DEFAULT_DISABLE_TIMEOUT: Final = 86400.0
DEFAULT_LIFETIME: Final = 86400
#: /1/x/19 Communication Sequence Delay Timer: "MAX_VALUE means do not perform another
#: communication sequence" (Unsigned Integer, 32 bits here).
NO_MORE_SEQUENCES: Final = 2**32 - 1


MODE_PSK, MODE_RPK, MODE_CERTIFICATE, MODE_NOSEC, MODE_CERTIFICATE_EST = 0, 1, 2, 3, 4
#: Key material each security mode needs (E.1: 3 identity / public key / certificate,
#: 4 server public key, 5 secret key). The server certificate is optional in
#: certificate mode (it may come from a trust store, /0/x/15 Certificate Usage).
_KEYS_NEEDED: Final[dict[int, tuple[int, ...]]] = {
    MODE_PSK: (SEC_IDENTITY, SEC_SECRET_KEY),
    MODE_RPK: (SEC_IDENTITY, SEC_SERVER_KEY, SEC_SECRET_KEY),
    MODE_CERTIFICATE: (SEC_IDENTITY, SEC_SECRET_KEY),
    MODE_NOSEC: (),
    MODE_CERTIFICATE_EST: (SEC_IDENTITY, SEC_SECRET_KEY),
}

InstanceValues: TypeAlias = Mapping[int, object]
ObjectValues: TypeAlias = Mapping[int, InstanceValues]


@dataclass(slots=True)
class ServerAccount:
    """One LwM2M server account: Security /0/x plus Server /1/y with the same Short Server ID."""

    short_server_id: int
    uri: str = ""
    lifetime: int | None = DEFAULT_LIFETIME  # /1/y/1; None: resource absent, send no ``lt``
    binding: str = "U"  # /1/y/7
    queue_mode: bool = False
    sms: str | None = None
    bootstrap_on_failure: bool = True  # /1/y/16 Bootstrap on Registration Failure
    initial_delay: float = 0.0  # /1/y/14 Initial Registration Delay Timer
    disable_timeout: float = DEFAULT_DISABLE_TIMEOUT  # /1/y/5
    #: /1/y/13 Registration Priority Order; None: unordered (registers on its own).
    priority: int | None = None
    #: /1/y/15 Registration Failure Block: a failed registration stops the next ones in order.
    failure_block: bool = False
    #: /1/y/17 Communication Retry Count; None: the client's default (5, as the spec's).
    retry_count: int | None = None
    #: /1/y/18 Communication Retry Timer (s), doubled at each attempt; None: the client's
    #: bounded back-off (the spec's 60 s default would break the 60 s recovery bound).
    retry_timer: float | None = None
    #: /1/y/19 Communication Sequence Delay Timer (s); None: the client's bounded back-off.
    sequence_delay: float | None = None
    #: /1/y/20 Communication Sequence Retry Count; None: registration is reported failed
    #: after one sequence (the spec's default) but the attempts go on.
    sequence_retry_count: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.short_server_id <= 65534:
            raise ValueError(f"short server id {self.short_server_id} not in 1..65534")
        if self.lifetime is not None and self.lifetime <= 0:
            raise ValueError(f"lifetime {self.lifetime} must be > 0")

    def apply_procedure(self, values: InstanceValues) -> None:
        """Take the registration procedure resources /1/y/13-20 of a Server instance."""
        flag = values.get(SRV_BOOTSTRAP_ON_FAILURE, True)
        self.bootstrap_on_failure = flag is not False and flag != 0
        self.failure_block = values.get(SRV_FAILURE_BLOCK, False) in (True, 1)
        self.priority = _unsigned(values.get(SRV_PRIORITY))
        delay = _unsigned(values.get(SRV_INITIAL_DELAY))
        self.initial_delay = float(delay or 0)
        count = _unsigned(values.get(SRV_RETRY_COUNT))
        self.retry_count = count if count else None  # 0 attempts makes no sense: default
        timer = _unsigned(values.get(SRV_RETRY_TIMER))
        self.retry_timer = None if timer is None else float(timer)
        seq_delay = _unsigned(values.get(SRV_SEQUENCE_DELAY))
        self.sequence_delay = None if seq_delay is None else float(seq_delay)
        seq_count = _unsigned(values.get(SRV_SEQUENCE_RETRY_COUNT))
        self.sequence_retry_count = seq_count if seq_count else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _unsigned(value: object) -> int | None:
    found = _int(value)
    return found if found is not None and found >= 0 else None


def _is_bootstrap(values: InstanceValues) -> bool:
    flag = values.get(SEC_IS_BOOTSTRAP, False)
    return flag is True or flag == 1


def _check_security(iid: int, values: InstanceValues) -> list[str]:
    """Problems of one non-bootstrap Security instance taken alone."""
    where = f"/0/{iid}"
    problems: list[str] = []
    uri = values.get(SEC_URI)
    scheme = ""
    if not isinstance(uri, str) or not uri:
        problems.append(f"{where}/0: server URI missing")
    else:
        try:
            parts = urlsplit(uri)
            scheme = parts.scheme.lower()
            host = parts.hostname
        except ValueError:
            host = None
        if scheme not in ("coap", "coaps") or not host:
            problems.append(f"{where}/0: URI {uri!r} is not coap:// or coaps:// with a host")
    mode = _int(values.get(SEC_MODE))
    if mode not in _KEYS_NEEDED:
        problems.append(f"{where}/2: security mode {values.get(SEC_MODE)!r} invalid")
    else:
        if scheme == "coap" and mode != MODE_NOSEC:
            problems.append(f"{where}: coap:// URI with a secure mode {mode}")
        if scheme == "coaps" and mode == MODE_NOSEC:
            problems.append(f"{where}: coaps:// URI with NoSec mode")
        for rid in _KEYS_NEEDED[mode]:
            key = values.get(rid)
            if not isinstance(key, bytes | bytearray | str) or len(key) == 0:
                problems.append(f"{where}/{rid}: key material missing for mode {mode}")
    ssid = _int(values.get(SEC_SHORT_ID))
    if ssid is None or not 1 <= ssid <= 65534:
        problems.append(f"{where}/10: short server id {values.get(SEC_SHORT_ID)!r} invalid")
    return problems


def _check_server(iid: int, values: InstanceValues) -> list[str]:
    where = f"/1/{iid}"
    problems: list[str] = []
    ssid = _int(values.get(SRV_SHORT_ID))
    if ssid is None or not 1 <= ssid <= 65534:
        problems.append(f"{where}/0: short server id {values.get(SRV_SHORT_ID)!r} invalid")
    if SRV_LIFETIME in values:
        lifetime = _int(values[SRV_LIFETIME])
        if lifetime is None or lifetime <= 0:
            problems.append(f"{where}/1: lifetime {values[SRV_LIFETIME]!r} invalid")
    binding = values.get(SRV_BINDING, "U")
    if not isinstance(binding, str) or not binding or not set(binding) <= set("UMHTSNQ"):
        problems.append(f"{where}/7: binding {binding!r} invalid")
    return problems


def check_bootstrap_config(security: ObjectValues, server: ObjectValues) -> list[str]:
    """Problems of the Security (/0) and Server (/1) configuration; empty when consistent.

    Consistent means (Core TS 1.1 6.1.7, E.1, E.2): at most one bootstrap
    Security instance; every other Security instance has a coap/coaps URI, a
    valid security mode with its key material and a Short Server ID that one
    Server instance carries; every Server instance has a matching Security
    instance; and at least one such server account exists. Non-empty: answer
    the Bootstrap-Finish with 4.06 Not Acceptable.
    """
    problems: list[str] = []
    bootstrap_ids = [iid for iid, v in security.items() if _is_bootstrap(v)]
    if len(bootstrap_ids) > 1:
        problems.append(f"more than one bootstrap Security instance: {sorted(bootstrap_ids)}")
    sec_by_ssid: dict[int, int] = {}
    for iid, values in sorted(security.items()):
        if _is_bootstrap(values):
            continue
        problems += _check_security(iid, values)
        ssid = _int(values.get(SEC_SHORT_ID))
        if ssid is not None:
            if ssid in sec_by_ssid:
                problems.append(
                    f"/0/{iid}/10: short server id {ssid} also in /0/{sec_by_ssid[ssid]}"
                )
            sec_by_ssid.setdefault(ssid, iid)
    srv_by_ssid: dict[int, int] = {}
    for iid, values in sorted(server.items()):
        problems += _check_server(iid, values)
        ssid = _int(values.get(SRV_SHORT_ID))
        if ssid is None:
            continue
        if ssid in srv_by_ssid:
            problems.append(f"/1/{iid}/0: short server id {ssid} also in /1/{srv_by_ssid[ssid]}")
        srv_by_ssid.setdefault(ssid, iid)
        if ssid not in sec_by_ssid:
            problems.append(f"/1/{iid}: no Security instance with short server id {ssid}")
    for ssid, iid in sorted(sec_by_ssid.items()):
        if ssid not in srv_by_ssid:
            problems.append(f"/0/{iid}: no Server instance with short server id {ssid}")
    if not sec_by_ssid.keys() & srv_by_ssid.keys():
        problems.append("no LwM2M server account (Security + Server with the same short id)")
    return problems


def server_accounts(
    security: ObjectValues, server: ObjectValues, *, queue_mode: bool = False
) -> list[ServerAccount]:
    """The consistent server accounts of a configuration, ordered by Short Server ID."""
    servers = {
        _int(v.get(SRV_SHORT_ID)): (iid, v)
        for iid, v in server.items()
        if not _check_server(iid, v)
    }
    accounts: list[ServerAccount] = []
    for iid, sec in security.items():
        if _is_bootstrap(sec) or _check_security(iid, sec):
            continue
        ssid = _int(sec.get(SEC_SHORT_ID))
        if ssid is None or ssid not in servers:
            continue
        srv = servers[ssid][1]
        lifetime = _int(srv.get(SRV_LIFETIME)) if SRV_LIFETIME in srv else None
        disable_timeout = _int(srv.get(SRV_DISABLE_TIMEOUT))
        account = ServerAccount(
            short_server_id=ssid,
            uri=str(sec.get(SEC_URI)),
            lifetime=lifetime,
            binding=str(srv.get(SRV_BINDING, "U")),
            queue_mode=queue_mode,
            disable_timeout=float(
                DEFAULT_DISABLE_TIMEOUT if disable_timeout is None else max(disable_timeout, 0)
            ),
        )
        account.apply_procedure(srv)
        accounts.append(account)
    return sorted(accounts, key=lambda a: a.short_server_id)
