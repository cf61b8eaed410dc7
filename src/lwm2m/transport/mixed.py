"""One CoAP endpoint behind a plain UDP and a DTLS listener at once.

The LwM2M server accepts ``coap://`` and ``coaps://`` clients on one
:class:`~lwm2m.coap.endpoint.Endpoint`; this transport routes each peer to the
socket it uses.
"""

from __future__ import annotations

import logging

from lwm2m.transport.base import Address, DatagramTransport
from lwm2m.transport.dtls import DtlsPeerInfo, DtlsServerTransport

log = logging.getLogger(__name__)


def identity_text(identity: bytes | str | None) -> str | None:
    """A peer identity as text (PSK identities are bytes on the wire)."""
    if isinstance(identity, bytes):
        return identity.decode("utf-8", "replace")
    return identity


class UdpAndDtlsTransport(DatagramTransport):
    """The plain UDP and the DTLS listener behind one CoAP endpoint.

    A peer with an established DTLS session is answered over DTLS, and datagrams
    from its address that arrive on the plain socket are dropped, so nobody can
    speak for an authenticated peer without its key. Every other peer is plain UDP.
    """

    def __init__(self, udp: DatagramTransport, dtls: DtlsServerTransport) -> None:
        super().__init__()
        self._udp = udp
        self._dtls = dtls
        self._secure: set[Address] = set()
        udp.set_callbacks(self._from_udp, self._error)
        dtls.set_callbacks(self._from_dtls, self._error)
        dtls.set_session_callback(self._session)

    def _session(self, remote: Address, info: DtlsPeerInfo | None) -> None:
        if info is None:
            self._secure.discard(remote)
        else:
            self._secure.add(remote)

    def _from_udp(self, data: bytes, remote: Address) -> None:
        if remote in self._secure:
            log.info("plain datagram from %s, which has a DTLS session, dropped", remote)
            return
        self._on_datagram(data, remote)

    def _from_dtls(self, data: bytes, remote: Address) -> None:
        self._on_datagram(data, remote)

    def _error(self, exc: OSError, remote: Address | None) -> None:
        self._on_error(exc, remote)

    def send(self, data: bytes, remote: Address) -> None:
        (self._dtls if remote in self._secure else self._udp).send(data, remote)

    @property
    def local_address(self) -> Address:
        return self._udp.local_address

    def peer_identity(self, remote: Address) -> bytes | str | None:
        if remote not in self._secure:
            return None
        return self._dtls.peer_identity(remote)

    def listeners(self) -> list[tuple[str, Address]]:
        """(URI scheme, bound address) of both sockets: ``coap`` and ``coaps``."""
        return [("coap", self._udp.local_address), ("coaps", self._dtls.local_address)]

    def close_sessions_of(self, identity: bytes | str) -> int:
        """Close the DTLS sessions of peers that proved ``identity`` (see
        :meth:`DtlsServerTransport.close_sessions_of`); those peers are plain
        UDP peers again until they handshake anew."""
        return self._dtls.close_sessions_of(identity)

    @property
    def is_closed(self) -> bool:
        return self._udp.is_closed and self._dtls.is_closed

    def close(self) -> None:
        self._udp.close()
        self._dtls.close()
