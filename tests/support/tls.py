"""Test certificates (trustme): one CA, a certificate for 127.0.0.1 that serves as server,
peer and client certificate, and the PEM files concord-server and redis-cli take."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import trustme


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path

    def server_args(self, *, auth_clients: str = "yes") -> list[str]:
        return [
            "--tls-cert-file",
            str(self.cert),
            "--tls-key-file",
            str(self.key),
            "--tls-ca-cert-file",
            str(self.ca),
            "--tls-auth-clients",
            auth_clients,
        ]

    def cluster_args(self) -> list[str]:
        """A member's flags: TLS peer links, and clients without certificates."""
        return [*self.server_args(auth_clients="no"), "--tls-cluster", "yes"]

    def context(self) -> ssl.SSLContext:
        """A client context trusting the CA (no client certificate, no name check)."""
        context = ssl.create_default_context(cafile=str(self.ca))
        context.check_hostname = False
        return context

    def peer_contexts(self) -> tuple[ssl.SSLContext, ssl.SSLContext]:
        """(server, client) contexts of a member's mutual TLS, as the test CA makes them."""
        server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(self.ca))
        server.load_cert_chain(str(self.cert), str(self.key))
        server.verify_mode = ssl.CERT_REQUIRED
        client = ssl.create_default_context(cafile=str(self.ca))
        client.check_hostname = False
        client.load_cert_chain(str(self.cert), str(self.key))
        return server, client

    def redis_kwargs(self) -> dict[str, object]:
        """What redis-py's Redis/Connection need for TLS to a server of these files."""
        return {
            "ssl": True,
            "ssl_ca_certs": str(self.ca),
            "ssl_check_hostname": False,
        }


def make_tls_files(directory: Path) -> TlsFiles:
    directory.mkdir(parents=True, exist_ok=True)
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1", "localhost")
    files = TlsFiles(directory / "ca.pem", directory / "node.pem", directory / "node.key")
    ca.cert_pem.write_to_path(str(files.ca))
    issued.cert_chain_pems[0].write_to_path(str(files.cert))
    issued.private_key_pem.write_to_path(str(files.key))
    return files
