"""The peer handshake: who dials whom, in which cluster, and proof of the cluster secret.

    dialer   -> {"cluster", "from", "to", "version", "nonce"}
    acceptor -> {"nonce"}                  or {"error": text}, and it closes
    dialer   -> {"proof"}                  HMAC of the dialer's transcript (security.peer_auth)
    acceptor -> {"ok": True, "proof"}      or {"error": text}, and it closes
    the dialer checks the acceptor's proof: a wrong one ends the connection at once

The dialer proves first, so a stranger dialing in never gets a proof to study; the acceptor
proves too, so a dialer never sends a frame to an impostor. Until the handshake is done, the
other side is anyone: what it may make us read is bounded (`HANDSHAKE_BYTES` in all, frames
included) and the caller bounds the time. A refusal says what is wrong but never echoes the
cluster id or anything secret. Only trio's `Stream` interface is used, so a TLS stream can
wrap the socket underneath later.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final, NoReturn

import trio

from ...security.peer_auth import (
    NONCE_BYTES,
    ClusterSecret,
    Role,
    Transcript,
    is_nonce,
    prove,
    verify,
)
from .framing import FrameProtocolError, FrameReader, encode_frame

HANDSHAKE_BYTES: Final = 4096  # all a dialer may send before it is authenticated
AUTHENTICATION_FAILED: Final = "authentication failed (wrong or missing cluster secret)"


@dataclass(frozen=True, slots=True)
class Identity:
    """This node as the handshake presents it."""

    name: str
    cluster: str
    version: int  # of the peer protocol
    secret: ClusterSecret | None


class HandshakeFailed(Exception):
    """The other side was not authenticated. `reason` is safe to send and to log; `cause`
    names its kind in a word (what the log's rate limit counts: a stranger varying the names
    it sends must not get a line each); `claimed` is the name a dialer gave (unverified) and
    `detail` what only our log should say."""

    def __init__(
        self,
        reason: str,
        *,
        cause: str = "",
        claimed: str | None = None,
        detail: str = "",
        by_peer: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause or reason
        self.claimed = claimed
        self.detail = detail
        self.by_peer = by_peer  # the other side refused us (its words, in `reason`)


class HandshakeReader:
    """Reads handshake frames, never more than `budget` bytes in all."""

    def __init__(self, budget: int = HANDSHAKE_BYTES) -> None:
        self.budget = budget
        self.left = budget
        self.frames = FrameReader(budget)  # goes on reading frames once authenticated

    async def frame(self, stream: trio.abc.ReceiveStream) -> object:
        while True:
            frames = self.frames.pop_frames(limit=1)
            if frames:
                return frames[0]
            if self.left <= 0:
                raise FrameProtocolError(f"handshake longer than {self.budget} bytes")
            data = await stream.receive_some(self.left)
            if not data:
                raise FrameProtocolError("connection closed during the handshake")
            self.left -= len(data)
            self.frames.feed(data)


def printable(text: object, limit: int = 200) -> str:
    """A peer's text for our log: no control characters, bounded."""
    return repr(text)[:limit] if not isinstance(text, str) else repr(text)[1:-1][:limit]


async def dial(stream: trio.abc.Stream, me: Identity, peer: str) -> None:
    """Authenticate both ways as the dialer to `peer`; raises HandshakeFailed, or
    FrameProtocolError if the other side breaks the framing."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    hello = {"cluster": me.cluster, "from": me.name, "to": peer, "version": me.version}
    await stream.send_all(encode_frame({**hello, "nonce": nonce}))
    reader = HandshakeReader()
    challenge = _answer(await reader.frame(stream))
    acceptor_nonce = challenge.get("nonce")
    if not is_nonce(acceptor_nonce):
        raise HandshakeFailed("malformed answer to the handshake")
    assert isinstance(acceptor_nonce, bytes)
    transcript = Transcript(me.cluster, me.name, peer, me.version, nonce, acceptor_nonce)
    await stream.send_all(encode_frame({"proof": prove(me.secret, Role.DIALER, transcript)}))
    answer = _answer(await reader.frame(stream))
    if answer.get("ok") is not True or not verify(
        me.secret, Role.ACCEPTOR, transcript, answer.get("proof")
    ):
        raise HandshakeFailed("the peer did not prove the cluster secret")


def _answer(reply: object) -> dict[object, object]:
    if not isinstance(reply, dict):
        raise HandshakeFailed("malformed answer to the handshake")
    if "error" in reply:
        raise HandshakeFailed(printable(reply["error"]), by_peer=True)
    return reply


async def accept(stream: trio.abc.Stream, me: Identity, reader: HandshakeReader) -> str:
    """Authenticate both ways as the acceptor; returns the dialer's name. Refusing, tells
    the dialer why and raises HandshakeFailed (FrameProtocolError for broken framing).
    Frames the dialer sent after the handshake stay in `reader.frames`."""
    hello = await reader.frame(stream)
    sender, dialer_nonce = await _checked_hello(stream, me, hello)
    nonce = secrets.token_bytes(NONCE_BYTES)
    await stream.send_all(encode_frame({"nonce": nonce}))
    answer = await reader.frame(stream)
    proof = answer.get("proof") if isinstance(answer, dict) else None
    transcript = Transcript(me.cluster, sender, me.name, me.version, dialer_nonce, nonce)
    if not verify(me.secret, Role.DIALER, transcript, proof):
        await _refuse(stream, AUTHENTICATION_FAILED, "authentication", claimed=sender[:80])
    reply = {"ok": True, "proof": prove(me.secret, Role.ACCEPTOR, transcript)}
    await stream.send_all(encode_frame(reply))
    return sender


async def _checked_hello(stream: trio.abc.Stream, me: Identity, hello: object) -> tuple[str, bytes]:
    cluster = sender = to = nonce = None
    version: object = 1  # a dialer that names no version speaks the first
    if isinstance(hello, dict):
        cluster, sender, to = hello.get("cluster"), hello.get("from"), hello.get("to")
        version, nonce = hello.get("version", 1), hello.get("nonce")
    claimed = sender[:80] if isinstance(sender, str) else None  # (for our log: bounded)
    if not (isinstance(cluster, str) and isinstance(sender, str) and isinstance(to, str)):
        await _refuse(stream, "malformed handshake", "malformed")
    elif type(version) is not int or version != me.version:
        text = (
            f"peer protocol version {version!r:.20}: node {me.name!r} speaks version {me.version}"
        )
        await _refuse(stream, text, "version", claimed=claimed)
    elif not is_nonce(nonce):
        await _refuse(stream, "malformed handshake (nonce)", "malformed", claimed=claimed)
    elif cluster != me.cluster:
        detail = f"it names cluster {cluster!r:.80}"
        await _refuse(stream, "cluster id mismatch", "cluster", claimed=claimed, detail=detail)
    elif to != me.name:
        text = f"this node is {me.name!r}, not {to!r:.80}"
        await _refuse(stream, text, "name", claimed=claimed)
    elif sender == me.name:
        text = f"this node is already named {sender!r:.80}"
        await _refuse(stream, text, "name", claimed=claimed)
    assert isinstance(sender, str)
    assert isinstance(nonce, bytes)
    return sender, nonce


async def _refuse(
    stream: trio.abc.Stream,
    reason: str,
    cause: str,
    *,
    claimed: str | None = None,
    detail: str = "",
) -> NoReturn:
    """Tell the dialer why (if it still listens), then raise."""
    try:
        await stream.send_all(encode_frame({"error": reason}))
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    raise HandshakeFailed(reason, cause=cause, claimed=claimed, detail=detail)
