"""Peer authentication: proving the cluster secret in the peer handshake, pure.

The members of a cluster share a secret. When one dials another, each side sends a fresh
random nonce, and each proves that it knows the secret with HMAC-SHA256(secret, transcript):
the transcript names the role (dialer or acceptor), the cluster, both nodes, the protocol
version and both nonces. A proof is therefore good for one connection, one direction and one
pair of names: a recorded proof fails on a new connection (the other side's nonce differs)
and a proof sent back to its author fails (the role differs). The secret is never sent; it
is held by `ClusterSecret`, whose repr hides it. Proofs are compared in constant time.

No I/O and no randomness here: the nonces come from the caller (the transport draws them
with `secrets.token_bytes`). A node without a secret proves with an empty key, which proves
nothing: such a node listens on loopback only (the server sees to it).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass
from enum import Enum
from typing import Final

NONCE_BYTES: Final = 32
PROOF_BYTES: Final = 32  # SHA-256
MIN_SECRET_BYTES: Final = 32  # `openssl rand -hex 32` gives 64
_DOMAIN: Final = b"concord peer handshake"
_FIELD: Final = struct.Struct(">I")


class Role(Enum):
    """Who proves: each side's proof names its own role, so neither can be reflected."""

    DIALER = b"dialer"
    ACCEPTOR = b"acceptor"


class ClusterSecret:
    """The key every member proves it holds. Never printed: repr and str hide it."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) < MIN_SECRET_BYTES:
            raise ValueError(f"a cluster secret must be at least {MIN_SECRET_BYTES} bytes")
        self._key = key

    def __repr__(self) -> str:
        return "ClusterSecret(<hidden>)"

    __str__ = __repr__

    def mac(self, message: bytes) -> bytes:
        return hmac.digest(self._key, message, hashlib.sha256)


_NO_SECRET: Final = b""


@dataclass(frozen=True, slots=True)
class Transcript:
    """What one handshake is about; both sides build the same one."""

    cluster: str
    dialer: str
    acceptor: str
    version: int
    dialer_nonce: bytes
    acceptor_nonce: bytes

    def message(self, role: Role) -> bytes:
        """The bytes a proof authenticates: every field length-prefixed (unambiguous)."""
        fields = (
            _DOMAIN,
            role.value,
            self.cluster.encode(),
            self.dialer.encode(),
            self.acceptor.encode(),
            str(self.version).encode(),
            self.dialer_nonce,
            self.acceptor_nonce,
        )
        return b"".join(_FIELD.pack(len(field)) + field for field in fields)


def prove(secret: ClusterSecret | None, role: Role, transcript: Transcript) -> bytes:
    """`role`'s proof for this handshake."""
    message = transcript.message(role)
    if secret is None:
        return hmac.digest(_NO_SECRET, message, hashlib.sha256)
    return secret.mac(message)


def verify(secret: ClusterSecret | None, role: Role, transcript: Transcript, proof: object) -> bool:
    """Whether `proof` (untrusted: anything a peer sent) is `role`'s proof for this
    handshake, compared in constant time."""
    if type(proof) is not bytes or len(proof) != PROOF_BYTES:
        return False
    return hmac.compare_digest(prove(secret, role, transcript), proof)


def is_nonce(value: object) -> bool:
    """Whether a peer's `value` can be a nonce (it must not choose a short one)."""
    return type(value) is bytes and len(value) == NONCE_BYTES
