"""Frames on the peer link, sans-IO: `u32 big-endian length | CBOR payload`.

`encode_frame` writes one; `FrameReader` is fed bytes and pops decoded values, refusing a
frame longer than its `max_frame` from its header alone (before buffering its payload), so a
peer can never make us hold more than `max_frame` plus one read.
"""

from __future__ import annotations

import struct
from typing import Final

import cbor2

HEADER: Final = struct.Struct(">I")
RECEIVE_MIN: Final = 1 << 16
RECEIVE_MAX: Final = 1 << 22


class FrameProtocolError(Exception):
    """A peer broke the framing (oversized or undecodable frame): its connection is closed."""


def encode_frame(frame: object) -> bytes:
    """One frame as it goes on the wire (header included)."""
    payload = cbor2.dumps(frame)
    return HEADER.pack(len(payload)) + payload


class FrameReader:
    """Sans-IO frame decoder: `feed` bytes, `pop_frames` decoded values."""

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()

    def feed(self, data: bytes | bytearray) -> None:
        self._buffer += data

    def receive_size(self) -> int:
        """How many bytes to ask the socket for: enough to finish a large frame in few calls."""
        buffer = self._buffer
        missing = HEADER.size - len(buffer)
        if missing <= 0:
            (length,) = HEADER.unpack_from(buffer)
            missing = HEADER.size + length - len(buffer)
        return min(max(missing, RECEIVE_MIN), RECEIVE_MAX)

    def pop_frames(self, limit: int | None = None) -> list[object]:
        """Decode every complete frame (at most `limit`). A bad frame raises
        `FrameProtocolError`, but only once the good frames before it have been returned."""
        frames: list[object] = []
        buffer = self._buffer
        end = len(buffer)
        position = 0
        with memoryview(buffer) as view:
            while end - position >= HEADER.size and (limit is None or len(frames) < limit):
                (length,) = HEADER.unpack_from(buffer, position)
                if length > self.max_frame:
                    if frames:
                        break
                    raise FrameProtocolError(
                        f"frame of {length} bytes exceeds the limit of {self.max_frame}"
                    )
                start = position + HEADER.size
                if end - start < length:
                    break
                try:
                    frames.append(cbor2.loads(view[start : start + length]))
                except cbor2.CBORDecodeError as error:
                    if frames:
                        break
                    raise FrameProtocolError(f"undecodable frame: {error}") from None
                position = start + length
        del buffer[:position]
        return frames
