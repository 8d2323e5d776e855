"""TLS: the contexts built from Redis's `tls-*` parameters, and TLS over a client socket.

A client connection keeps the plain path's shape (a non-blocking socket, replies sent
synchronously from the node's apply loop): `TlsSocket` runs TLS in memory (`ssl.SSLObject`
over two `MemoryBIO`s) and moves ciphertext to and from the socket itself. `send` takes all
the plaintext at once (it is encrypted into the outgoing buffer) and sends what the socket
takes; what is left is `unsent`, and `flush` sends more of it once the socket is writable.
`recv` decrypts what has arrived, reading the socket only when no whole record is buffered.

The peer links (`tls-cluster`) and the blocking client (`concord`, `--join`) use the same
contexts with trio's and the standard library's TLS streams.
"""

from __future__ import annotations

import logging
import socket
import ssl
from dataclasses import dataclass
from typing import Final

import trio

from ..config import Config

log = logging.getLogger("concord.tls")

RECV_SIZE: Final = 128 * 1024
HANDSHAKE_TIMEOUT: Final = 10.0
_VERSIONS: Final = {
    "tlsv1": ssl.TLSVersion.TLSv1,
    "tlsv1.1": ssl.TLSVersion.TLSv1_1,
    "tlsv1.2": ssl.TLSVersion.TLSv1_2,
    "tlsv1.3": ssl.TLSVersion.TLSv1_3,
}


class TlsConfigError(ValueError):
    """TLS parameters that cannot make a context (a file that will not load, a bad list)."""


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """Redis's `tls-*` parameters, as given."""

    cert_file: str = ""
    key_file: str = ""
    key_file_pass: str = ""
    ca_cert_file: str = ""
    ca_cert_dir: str = ""
    auth_clients: str = "yes"  # yes | no | optional
    protocols: str = ""  # e.g. "TLSv1.2 TLSv1.3"; empty: TLS 1.2 and 1.3
    ciphers: str = ""
    ciphersuites: str = ""


def tls_settings(config: Config) -> TlsSettings:
    return TlsSettings(
        cert_file=config.tls_cert_file,
        key_file=config.tls_key_file,
        key_file_pass=config.tls_key_file_pass,
        ca_cert_file=config.tls_ca_cert_file,
        ca_cert_dir=config.tls_ca_cert_dir,
        auth_clients=config.tls_auth_clients,
        protocols=config.tls_protocols,
        ciphers=config.tls_ciphers,
        ciphersuites=config.tls_ciphersuites,
    )


def _apply_common(context: ssl.SSLContext, settings: TlsSettings) -> None:
    if settings.protocols:
        versions = []
        for name in settings.protocols.split():
            version = _VERSIONS.get(name.lower())
            if version is None:
                raise TlsConfigError(f"tls-protocols: unknown protocol {name!r}")
            versions.append(version)
        context.minimum_version = min(versions)
        context.maximum_version = max(versions)
    else:
        context.minimum_version = ssl.TLSVersion.TLSv1_2
    if settings.ciphers:
        try:
            context.set_ciphers(settings.ciphers)
        except ssl.SSLError as error:
            raise TlsConfigError(f"tls-ciphers: {error}") from None
    if settings.ciphersuites:
        # Python's ssl module has no call for TLS 1.3 suites: OpenSSL's defaults are used.
        log.warning(
            "tls-ciphersuites is accepted but not applied: OpenSSL's TLS 1.3 defaults are used"
        )
    try:
        if settings.cert_file:
            context.load_cert_chain(
                settings.cert_file, settings.key_file or None, settings.key_file_pass or None
            )
        if settings.ca_cert_file or settings.ca_cert_dir:
            context.load_verify_locations(
                settings.ca_cert_file or None, settings.ca_cert_dir or None
            )
    except (OSError, ssl.SSLError) as error:
        raise TlsConfigError(f"cannot load the TLS certificates: {error}") from None


def server_context(settings: TlsSettings) -> ssl.SSLContext:
    """For the TLS client port and for accepting peer links."""
    if not settings.cert_file:
        raise TlsConfigError("TLS needs tls-cert-file and tls-key-file")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    _apply_common(context, settings)
    mode = settings.auth_clients.lower()
    if mode not in ("yes", "no", "optional"):
        raise TlsConfigError("tls-auth-clients must be yes, no or optional")
    if mode != "no" and not (settings.ca_cert_file or settings.ca_cert_dir):
        raise TlsConfigError(
            "tls-auth-clients needs tls-ca-cert-file or tls-ca-cert-dir (or set it to no)"
        )
    context.verify_mode = {
        "yes": ssl.CERT_REQUIRED,
        "no": ssl.CERT_NONE,
        "optional": ssl.CERT_OPTIONAL,
    }[mode]
    return context


def client_context(settings: TlsSettings, *, verify: bool = True) -> ssl.SSLContext:
    """For dialing: peer links and the blocking client. The peer is checked against the CA
    (the cluster's); its name is not, since members are addressed by IP address."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    _apply_common(context, settings)
    if verify and not (settings.ca_cert_file or settings.ca_cert_dir):
        context.load_default_certs()
    return context


class TlsSocket:
    """TLS over a connected non-blocking socket, in memory (see the module docstring)."""

    __slots__ = ("_incoming", "_outgoing", "_sock", "_tls", "_unsent", "closed")

    def __init__(self, sock: socket.socket, context: ssl.SSLContext) -> None:
        self._sock = sock
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=True)
        self._unsent = bytearray()  # ciphertext the socket has not taken yet
        self.closed = False

    async def handshake(self) -> None:
        """Complete the server side of the handshake (OSError/SSLError if it fails)."""
        while True:
            try:
                self._tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                await self._send_all_unsent()
                await trio.lowlevel.wait_readable(self._sock)
                try:
                    data = self._sock.recv(RECV_SIZE)
                except BlockingIOError:
                    continue
                if not data:
                    raise ConnectionError("the client closed during the TLS handshake") from None
                self._incoming.write(data)
        await self._send_all_unsent()

    async def _send_all_unsent(self) -> None:
        self._collect()
        while self._unsent:
            await trio.lowlevel.wait_writable(self._sock)
            self.flush()

    def _collect(self) -> None:
        outgoing = self._outgoing
        if outgoing.pending:
            self._unsent += outgoing.read()

    @property
    def buffered(self) -> bool:
        """Whether data has arrived that `recv` has not returned yet (so do not wait for
        the socket before calling it)."""
        return bool(self._incoming.pending or self._tls.pending())

    @property
    def unsent(self) -> int:
        """Ciphertext bytes still to send."""
        return len(self._unsent)

    def flush(self) -> None:
        """Send what the socket takes of the unsent ciphertext (OSError if it is gone)."""
        unsent = self._unsent
        try:
            sent = self._sock.send(unsent)
        except BlockingIOError:
            return
        del unsent[:sent]

    def send(self, data: bytes | memoryview) -> int:
        """Encrypt all of `data` and send what the socket takes now; returns len(data)."""
        self._tls.write(data)
        self._collect()
        self.flush()
        return len(data)

    def recv(self, size: int) -> bytes:
        """Decrypted data (b"" at the end of the stream); BlockingIOError if none yet."""
        parts: list[bytes] = []
        got = 0
        tls = self._tls
        while got < size:
            try:
                chunk = tls.read(size - got)
            except ssl.SSLWantReadError:
                if parts:
                    break
                data = self._sock.recv(RECV_SIZE)  # (BlockingIOError: nothing yet)
                if data:
                    self._incoming.write(data)
                else:
                    self._incoming.write_eof()
                continue
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
        if self._outgoing.pending:  # (TLS 1.3 session tickets, alerts)
            self._collect()
            self.flush()
        return b"".join(parts)
