"""A test's side of the peer link: dial a node's peer port as if it were member `sender`,
with or without the cluster secret, and send it frames (what an attacker who knows the
public cluster id could try, and what a member would send).

Blocking sockets on 127.0.0.1; every read and write is bounded by `timeout`. The handshake
is computed with the real proof (`security.peer_auth`), so a test with the secret speaks
exactly as a member does.
"""

from __future__ import annotations

import os
import socket
import time
from types import TracebackType
from typing import Any

from concord_resp.raft.driver.framing import FrameReader, encode_frame
from concord_resp.security.peer_auth import NONCE_BYTES, ClusterSecret, Role, Transcript, prove

HOST = "127.0.0.1"
VERSION = 2


class PeerRefused(Exception):
    """The node refused the handshake (its words) or closed the connection."""


class PeerClient:
    def __init__(
        self,
        port: int,
        *,
        cluster: str,
        sender: str,
        to: str,
        secret: bytes | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.cluster, self.sender, self.to = cluster, sender, to
        self.secret = ClusterSecret(secret) if secret else None
        self.timeout = timeout
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.reader = FrameReader(1 << 20)

    def __enter__(self) -> PeerClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.sock.close()

    def handshake(self, *, proof: bytes | None = None) -> None:
        """Dial as this version does, proving with our secret (or sending `proof`);
        raises PeerRefused if the node says no."""
        nonce = os.urandom(NONCE_BYTES)
        hello = {
            "cluster": self.cluster,
            "from": self.sender,
            "to": self.to,
            "version": VERSION,
            "nonce": nonce,
        }
        self.send(hello)
        challenge = self.receive()
        acceptor_nonce = challenge["nonce"]
        transcript = Transcript(self.cluster, self.sender, self.to, VERSION, nonce, acceptor_nonce)
        if proof is None:
            proof = prove(self.secret, Role.DIALER, transcript)
        self.send({"proof": proof})
        answer = self.receive()
        if answer.get("ok") is not True:
            raise PeerRefused(f"unexpected answer {answer!r}")

    def handshake_version_1(self) -> None:
        """The first version's handshake: no proof of anything."""
        self.send({"cluster": self.cluster, "from": self.sender, "to": self.to})
        answer = self.receive()
        if answer.get("ok") is not True:
            raise PeerRefused(f"unexpected answer {answer!r}")

    def send(self, frame: object) -> None:
        self.sock.sendall(encode_frame(frame))

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def receive(self) -> dict[str, Any]:
        """The next frame from the node, a dict; PeerRefused for an error or a close."""
        deadline = time.monotonic() + self.timeout
        while not (frames := self.reader.pop_frames(limit=1)):
            if time.monotonic() > deadline:
                raise TimeoutError("no frame from the node")
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                data = b""
            if not data:
                raise PeerRefused("connection closed")
            self.reader.feed(data)
        frame = frames[0]
        assert isinstance(frame, dict), frame
        if "error" in frame:
            raise PeerRefused(str(frame["error"]))
        return frame

    def closed_by_node(self) -> bool:
        """Whether the node has closed the connection (reading what it still sends)."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            try:
                if not self.sock.recv(65536):
                    return True
            except ConnectionResetError:
                return True
            except TimeoutError:
                return False
        return False
