"""Request parsing: bytes in, argv lists out, sans-IO (the h11 shape).

`RequestParser.feed(data)` returns the complete requests found so far; a partial request waits
for more data. Two request forms exist, chosen by the first byte of each request as in Redis:

- multibulk (`*<n>\\r\\n$<len>\\r\\n<bytes>\\r\\n...`), parsed by `hiredis.Reader` on the hot
  path. `Reader.len()` tells how many bytes are left unconsumed, which locates frame
  boundaries without copying;
- inline (`SET k v\\r\\n`, what people type into telnet or nc), split like Redis's
  `sdssplitargs` (double quotes with escapes, single quotes).

Redis's limits are enforced with Redis's wording. hiredis does not know them, so while a
multibulk request is incomplete a small streaming validator (`_FrameValidator`, the same rules
as Redis's `processMultibulkBuffer`) walks its headers: a client announcing a 600 MB bulk gets
`Protocol error: invalid bulk length` at once, not after it sent 600 MB. The validator also
names the exact error when hiredis rejects a request. After a protocol error the parser is
`broken`: requests parsed before the error are still returned (Redis runs them), then the
caller sends `error` and closes the connection.
"""

from __future__ import annotations

from typing import Final

import hiredis

PROTO_INLINE_MAX_SIZE: Final = 64 * 1024
DEFAULT_MAX_BULK_LEN: Final = 512 * 1024 * 1024
DEFAULT_MAX_QUERY_BUFFER: Final = 1024 * 1024 * 1024
INT_MAX: Final = 2**31 - 1
LLONG_MAX: Final = 2**63 - 1

_STAR: Final = 42  # b"*"
_DOLLAR: Final = 36  # b"$"
_SPACE_BYTES: Final = frozenset(b" \t\n\v\f\r")


class ProtocolError(Exception):
    """Raised by helpers; the parser turns it into its `error` state."""


def string2ll(text: bytes) -> int | None:
    """Redis's strict `string2ll`: `0` or an optional `-` then a non-zero digit then digits."""
    if not text:
        return None
    if text == b"0":
        return 0
    digits = text[1:] if text[:1] == b"-" else text
    if not digits or not digits.isdigit() or digits[:1] == b"0" or not digits.isascii():
        return None
    value = int(text)
    if value > LLONG_MAX or value < -LLONG_MAX - 1:
        return None
    return value


class RequestParser:
    """Turns a client's byte stream into argv lists, enforcing Redis's request limits."""

    def __init__(
        self,
        *,
        max_bulk_len: int = DEFAULT_MAX_BULK_LEN,
        max_query_buffer: int = DEFAULT_MAX_QUERY_BUFFER,
    ) -> None:
        self.max_bulk_len = max_bulk_len
        self.max_query_buffer = max_query_buffer
        self._reader = hiredis.Reader()
        self._reader_busy = False  # the reader holds part of a multibulk request
        self._walker: _FrameWalker | None = None  # walks headers while a frame is partial
        self._inline = b""  # an incomplete inline request
        self.error: bytes | None = None  # the error reply to send before closing
        self.broken = False  # stop reading: a protocol error or a limit was hit
        self.close_reason: str | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for the incomplete request (roughly Redis's `qbuf`)."""
        partial = self._walker.buffered if self._walker is not None else 0
        return partial + len(self._inline)

    def feed(self, data: bytes) -> list[list[bytes]]:
        commands: list[list[bytes]] = []
        if self.broken or not data:
            return commands
        if self._inline:
            data = self._inline + data
            self._inline = b""
        pos = 0
        end = len(data)
        while pos < end and not self.broken:
            if not self._reader_busy and data[pos] != _STAR:
                pos = self._parse_inline(data, pos, commands)
            else:
                pos = self._parse_multibulk(data, pos, commands)
        return commands

    # -- multibulk ---------------------------------------------------------------------

    def _parse_multibulk(self, data: bytes, pos: int, commands: list[list[bytes]]) -> int:
        """Parse multibulk requests from data[pos:]; return where parsing stopped."""
        reader = self._reader
        end = len(data)
        reader.feed(data, pos, end - pos)
        self._reader_busy = True
        while True:
            try:
                item = reader.gets()
            except hiredis.ProtocolError:
                return self._resync(data, pos, end)
            if item is False:
                break
            if type(item) is list:
                for arg in item:
                    if type(arg) is not bytes:
                        return self._resync(data, pos, end)
                if item:
                    commands.append(item)
            elif item is not None:
                # A top-level non-array (say `+PING`) is an inline request to Redis.
                return self._resync(data, pos, end)
        if reader.has_data() or self._walker is not None:
            self._walk_partial(data, pos, end)
        else:
            self._reader_busy = False
        return end

    def _walk_partial(self, data: bytes, pos: int, end: int) -> None:
        """A frame is incomplete: check its headers against Redis's limits."""
        if self._walker is None:
            self._walker = _FrameWalker(self.max_bulk_len)
        walker = self._walker
        outcome = walker.walk(data, pos, end)
        if outcome is not None:
            # hiredis accepted what the walker rejects: only an error can get here.
            self._fail(outcome if isinstance(outcome, bytes) else _GENERIC)
            return
        if not walker.in_frame:
            self._walker = None
            self._reader_busy = False
        elif walker.buffered > self.max_query_buffer:
            self._fail_silently("max query buffer length reached")

    def _resync(self, data: bytes, pos: int, end: int) -> int:
        """hiredis refused something: find Redis's error, or the inline request it met."""
        walker = self._walker or _FrameWalker(self.max_bulk_len)
        self._walker = None
        self._reader = hiredis.Reader()
        self._reader_busy = False
        outcome = walker.walk(data, pos, end)
        if isinstance(outcome, int):
            return outcome  # an inline request starts here
        self._fail(outcome or _GENERIC)
        return end

    # -- inline ------------------------------------------------------------------------

    def _parse_inline(self, data: bytes, pos: int, commands: list[list[bytes]]) -> int:
        newline = data.find(b"\n", pos)
        if newline < 0:
            if len(data) - pos > PROTO_INLINE_MAX_SIZE:
                self._fail(b"Protocol error: too big inline request")
            else:
                self._inline = data[pos:]
            return len(data)
        line_end = newline
        if line_end > pos and data[line_end - 1] == 13:
            line_end -= 1
        argv = split_args(data[pos:line_end])
        if argv is None:
            self._fail(b"Protocol error: unbalanced quotes in request")
            return len(data)
        if argv:
            commands.append(argv)
        return newline + 1

    # -- failure -------------------------------------------------------------------------

    def _fail(self, message: bytes) -> None:
        self.broken = True
        self.error = b"ERR " + message
        self.close_reason = message.decode("utf-8", "replace")

    def _fail_silently(self, reason: str) -> None:
        self.broken = True
        self.close_reason = reason


_GENERIC: Final = b"Protocol error: invalid multibulk length"


class _FrameWalker:
    """Redis's `processMultibulkBuffer` header rules over a stream of multibulk frames.

    It reads headers only (counts and bulk lengths) and skips payloads by length, so it keeps
    no request data. `walk` returns None when all is well so far, Redis's error text for a bad
    header, or the offset of a request that does not start with `*` (an inline request).
    """

    __slots__ = ("_line", "_max_bulk_len", "_remaining", "_skip", "buffered")

    def __init__(self, max_bulk_len: int) -> None:
        self._max_bulk_len = max_bulk_len
        self._line = b""  # a header line still being received
        self._remaining = 0  # elements left in the current frame; -1 before its count line
        self._skip = 0  # payload bytes (plus CRLF) still to skip
        self.buffered = 0  # bytes of the current frame seen so far

    @property
    def in_frame(self) -> bool:
        return self._remaining != 0 or self._skip != 0 or bool(self._line)

    def walk(self, data: bytes, pos: int, end: int) -> bytes | int | None:
        while pos < end:
            if self._skip:
                step = min(self._skip, end - pos)
                self._skip -= step
                self.buffered += step
                pos += step
                if self._skip == 0:
                    self._remaining -= 1
                continue
            if self._remaining == 0 and not self._line:
                # A new request starts here.
                if data[pos] != _STAR:
                    return pos
                self._remaining = -1
                self.buffered = 0
            counting = self._remaining < 0
            if self._line[-1:] == b"\r":
                # The CR ended the previous piece; any next byte completes the line.
                line = self._line[:-1]
                self._line = b""
                pos += 1
                self.buffered += 1
            else:
                cr = data.find(b"\r", pos, end)
                if cr < 0 or cr + 1 >= end:
                    # No complete line yet (a trailing CR still waits for its LF).
                    self._line += data[pos:end]
                    self.buffered += end - pos
                    if len(self._line) > PROTO_INLINE_MAX_SIZE:
                        if counting:
                            return b"Protocol error: too big mbulk count string"
                        return b"Protocol error: too big bulk count string"
                    return None
                line = self._line + data[pos:cr]
                self._line = b""
                self.buffered += cr + 2 - pos
                pos = cr + 2
            message = self._header(line, counting)
            if message is not None:
                return message
        return None

    def _header(self, line: bytes, counting: bool) -> bytes | None:
        if counting:
            count = string2ll(line[1:])
            if count is None or count > INT_MAX:
                return b"Protocol error: invalid multibulk length"
            self._remaining = max(count, 0)
            return None
        if line[:1] != b"$":
            return b"Protocol error: expected '$', got '%s'" % (line[:1] or b"\r")
        length = string2ll(line[1:])
        if length is None or length < 0 or length > self._max_bulk_len:
            return b"Protocol error: invalid bulk length"
        self._skip = length + 2
        return None


_ESCAPES: Final = {
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
    ord("b"): b"\b",
    ord("a"): b"\a",
}
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")


def split_args(line: bytes) -> list[bytes] | None:
    """Redis's `sdssplitargs`: split an inline request; None on unbalanced quotes."""
    nul = line.find(b"\0")
    if nul >= 0:  # Redis works on a C string here
        line = line[:nul]
    args: list[bytes] = []
    n = len(line)
    i = 0
    while True:
        while i < n and line[i] in _SPACE_BYTES:
            i += 1
        if i >= n:
            return args
        current = bytearray()
        in_double = in_single = False
        while True:
            if in_double:
                if i >= n:
                    return None
                ch = line[i]
                if (
                    ch == 92
                    and i + 3 < n
                    and line[i + 1] == ord("x")
                    and line[i + 2] in _HEX
                    and line[i + 3] in _HEX
                ):
                    current.append(int(line[i + 2 : i + 4], 16))
                    i += 3
                elif ch == 92 and i + 1 < n:
                    i += 1
                    current += _ESCAPES.get(line[i], line[i : i + 1])
                elif ch == 34:
                    if i + 1 < n and line[i + 1] not in _SPACE_BYTES:
                        return None
                    i += 1
                    break
                else:
                    current.append(ch)
            elif in_single:
                if i >= n:
                    return None
                ch = line[i]
                if ch == 92 and i + 1 < n and line[i + 1] == 39:
                    i += 1
                    current.append(39)
                elif ch == 39:
                    if i + 1 < n and line[i + 1] not in _SPACE_BYTES:
                        return None
                    i += 1
                    break
                else:
                    current.append(ch)
            else:
                if i >= n:
                    break
                ch = line[i]
                if ch in (32, 10, 13, 9):
                    break
                if ch == 34:
                    in_double = True
                elif ch == 39:
                    in_single = True
                else:
                    current.append(ch)
            i += 1
        args.append(bytes(current))
