"""Request parsing: bytes in, argv lists out, sans-IO (the h11 shape).

`RequestParser.feed(data)` returns the complete requests found so far; a partial request waits
for more data. The rules are Redis 7.0's `processInputBuffer`: the first byte of a request
picks its form (`*` multibulk, anything else inline: what people type into telnet or nc), and
Redis's limits apply with Redis's error texts.

Two parsers implement the same rules:

- the hot path hands a run of multibulk requests to `hiredis.Reader` (C). Its result is used
  only when it is certainly what Redis parses: every request complete, arrays of bulk strings
  only. Two regex screens run first: element types hiredis returns as bytes (`+x`, `=...`,
  `(1`) or frames it reads as arrays (`~`, `>`, `|`), and counts of 7+ digits (hiredis
  allocates an array before its elements arrive: `*2000000000` would be a 16 GB list);
- everything else (a request cut by the end of a read, inline requests, anything the screens
  or hiredis refuse) goes through `_Multibulk` / `_Inline`, a transcription of Redis's
  `processMultibulkBuffer` / `processInlineBuffer` with their quirks: a header line ends at
  its first CR whatever byte follows, a NUL byte before that CR stalls the request (Redis
  searches with `strchr`), the two bytes after a bulk payload are not checked.

Limits: a header or inline line over 64 KB and a bulk length over `max_bulk_len` are protocol
errors at once (from the header, not after the payload arrived); a bulk whose bytes pass
`max_query_buffer` closes the connection without a reply (Redis's client-query-buffer-limit:
its query buffer holds the bulk being read). After an error the parser is `broken`: requests
parsed before it are still returned (Redis runs them), then the caller sends `error` (None:
close silently) and closes.

Known differences from Redis, both needing input no client sends:
- the hot path's leniency: after a bulk whose two trailing bytes are not CRLF, or whose
  payload itself looks like `$<digits>`, an element starting with `+ = (` or a request
  starting with `~ > |` is read the hiredis way (as an argument, as an array);
- the 64 KB line limits are checked once per `feed`, where Redis checks after each read of at
  most 16 KB: a line a little over 64 KB whose newline comes in the same read may be
  accepted by one and refused by the other (Redis itself depends on how TCP cut the data).
"""

from __future__ import annotations

import re
from typing import Final

import hiredis

from ..limits import INT_MAX, LLONG_MAX

PROTO_INLINE_MAX_SIZE: Final = 64 * 1024
DEFAULT_MAX_BULK_LEN: Final = 512 * 1024 * 1024
DEFAULT_MAX_QUERY_BUFFER: Final = 1024 * 1024 * 1024
_LLONG_MAX_CHARS: Final = 20  # len(b"-9223372036854775808")
UNAUTH_MAX_MULTIBULK: Final = 10  # Redis's limits for a client that must AUTH first
UNAUTH_MAX_BULK: Final = 16384

_STAR: Final = 42  # b"*"
_PROBE: Final = b":0\r\n"  # an idle hiredis reader answers 0; one inside an array does not
_TAIL_GUESSES: Final = 2

# Screen 1: an element or request that hiredis would accept where Redis does not. A payload
# also follows CRLF, so a match right after a `$<digits>` header line is not one.
_LOOKS_NOT_BULK: Final = re.compile(
    rb"\r\n[+=(~>|]" + b"".join(rb"(?<!\$\d{%d}\r\n.)" % n for n in range(1, 10)), re.DOTALL
)
# Screen 2: an aggregate count of 100000 or more, which hiredis would preallocate a list for
# (the four aggregate type bytes are folded into `*` first: a regex whose first byte is a
# literal scans much faster). Below that, a list costs at most 800 KB of untouched memory.
_AGGREGATE_TO_STAR: Final = bytes(_STAR if byte in b"*~>|" else byte for byte in range(256))
_BIG_COUNT: Final = re.compile(rb"\*\d{6}")


class ProtocolError(Exception):
    """A request broke Redis's protocol: reply with `reply` (None: close silently), then close."""

    def __init__(self, reason: str, reply: bytes | None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reply = reply


def _protocol_error(detail: bytes) -> ProtocolError:
    text = b"Protocol error: " + detail
    return ProtocolError(text.decode("utf-8", "replace"), b"ERR " + text)


def string2ll(text: bytes) -> int | None:
    """Redis's strict `string2ll`: `0` or an optional `-` then a non-zero digit then digits."""
    if not text or len(text) > _LLONG_MAX_CHARS:
        # Redis refuses anything longer up front; Python's int() would also raise on a long
        # enough digit string (sys.get_int_max_str_digits), so this is a safety check too.
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
    """Turns a client's byte stream into argv lists, enforcing Redis's request limits.

    The limits are plain attributes: the server updates them before each `feed` (CONFIG SET).
    `auth_required` is Redis's `authRequired(c)`: the client has not authenticated and the
    default user needs a password; it caps requests at 10 arguments of 16 KB.
    """

    def __init__(
        self,
        *,
        max_bulk_len: int = DEFAULT_MAX_BULK_LEN,
        max_query_buffer: int = DEFAULT_MAX_QUERY_BUFFER,
        auth_required: bool = False,
    ) -> None:
        self.max_bulk_len = max_bulk_len
        self.max_query_buffer = max_query_buffer
        self.auth_required = auth_required
        self._reader = hiredis.Reader()  # idle between reads: holds no partial request
        self._request: _Multibulk | _Inline | None = None  # a request cut by the end of a read
        self.error: bytes | None = None  # the error reply to send before closing
        self.broken = False  # stop reading: a protocol error or a limit was hit
        self.close_reason: str | None = None

    @property
    def buffered(self) -> int:
        """Bytes held for the incomplete request element (Redis's `qbuf`)."""
        return 0 if self._request is None else self._request.buffered

    def feed(self, data: bytes) -> list[list[bytes]]:
        commands: list[list[bytes]] = []
        if self.broken or not data:
            return commands
        try:
            self._parse(data, commands)
        except ProtocolError as error:
            self._request = None
            self.broken = True
            self.error = error.reply
            self.close_reason = error.reason
        return commands

    def _parse(self, data: bytes, commands: list[list[bytes]]) -> None:
        pos = 0
        end = len(data)
        fast = not self.auth_required  # the unauthenticated limits are checked in Python
        request = self._request
        self._request = None
        while pos < end:
            if request is None:
                if data[pos] != _STAR:
                    request = _Inline()
                elif fast:
                    taken = self._parse_fast(data, pos, end, commands)
                    if taken is None:
                        return
                    pos = taken  # Python reads on from here, to the end of this read
                    fast = False
                    continue
                else:
                    request = _Multibulk()
            pos = request.parse(data, pos, end, self)
            if not request.done:
                self._request = request
                return
            if request.argv:
                commands.append(request.argv)
            request = None

    # -- hot path ------------------------------------------------------------------------

    def _parse_fast(
        self, data: bytes, pos: int, end: int, commands: list[list[bytes]]
    ) -> int | None:
        """hiredis parses data[pos:end]; returns where Python must take over (None: done)."""
        size = end - pos
        if (
            size > self.max_bulk_len
            or size > self.max_query_buffer
            or _LOOKS_NOT_BULK.search(data, pos) is not None
            or _BIG_COUNT.search(data.translate(_AGGREGATE_TO_STAR), pos) is not None
        ):
            return pos
        base = len(commands)
        reader = self._reader
        reader.feed(data, pos, size)
        frames = 0
        try:
            while (item := reader.gets()) is not False:
                if type(item) is not list:
                    return self._abandon(commands, base, pos)
                for arg in item:
                    if type(arg) is not bytes:
                        return self._abandon(commands, base, pos)
                frames += 1
                if item:
                    commands.append(item)
            if not reader.has_data():
                # Everything was consumed: idle, or inside an array whose header was read.
                reader.feed(_PROBE)
                if type(reader.gets()) is int:
                    return None
        except hiredis.HiredisError:
            return self._abandon(commands, base, pos)
        # The last request is cut by the end of the read: Python takes it from its first byte.
        self._reader = hiredis.Reader()
        tail = _find_tail(data, pos, end, frames)
        return self._abandon(commands, base, pos) if tail is None else tail

    def _abandon(self, commands: list[list[bytes]], base: int, pos: int) -> int:
        """hiredis cannot be trusted with this read: Python parses all of it again."""
        del commands[base:]
        self._reader = hiredis.Reader()
        return pos


def _find_tail(data: bytes, pos: int, end: int, frames: int) -> int | None:
    """Where the cut request starts, given that `frames` complete ones precede it."""
    if frames == 0:
        return pos
    bound = end
    for _ in range(_TAIL_GUESSES):
        cut = data.rfind(b"\r\n*", pos, bound)
        if cut < 0:
            return None
        # hiredis is deterministic: if data[pos:start] holds exactly `frames` requests and
        # leaves the reader idle, then `start` is where they end.
        start = cut + 2
        if _count_frames(data, pos, start) == frames:
            return start
        bound = start
    return None


def _count_frames(data: bytes, pos: int, stop: int) -> int | None:
    """How many requests hiredis reads in data[pos:stop], or None unless it ends idle there."""
    reader = hiredis.Reader()
    reader.feed(data, pos, stop - pos)
    frames = 0
    try:
        while reader.gets() is not False:
            frames += 1
        if reader.has_data():
            return None
        reader.feed(_PROBE)
        return frames if type(reader.gets()) is int else None
    except hiredis.HiredisError:
        return None


# -- Redis's parsers, for everything the hot path does not take ------------------------------


class _Line:
    """A header or inline line that may arrive over several reads (Redis's `strchr` search).

    Redis searches from the start of the line for `stop` in a NUL-terminated buffer: a NUL
    byte first means "no line yet", forever, so the request stalls until its size limit.
    """

    __slots__ = ("_parts", "_skip_next", "_stop", "size", "stalled")

    def __init__(self, stop: bytes) -> None:
        self._stop = stop
        self._parts: list[bytes] = []
        self._skip_next = False  # a header's CR was the last byte: the next one ends the line
        self.size = 0  # bytes of the line received so far (Redis's qbuf - qb_pos)
        self.stalled = False

    def read(self, data: bytes, pos: int, end: int) -> tuple[bytes | None, int]:
        """The complete line and where parsing continues, or (None, end) when incomplete."""
        if self.stalled:
            self.size += end - pos
            return None, end
        if self._skip_next:
            return self._finish(b""), pos + 1
        stop = data.find(self._stop, pos, end)
        if data.find(b"\0", pos, end if stop < 0 else stop) >= 0:
            self.stalled = True
            self._parts = []
            self.size += end - pos
            return None, end
        if stop < 0:
            self._parts.append(data[pos:end])
            self.size += end - pos
            return None, end
        if self._stop == b"\n":
            return self._finish(data[pos:stop]), stop + 1
        if stop + 1 == end:
            # Redis waits for one more byte after the CR (it does not check that it is LF).
            self._parts.append(data[pos:stop])
            self.size += end - pos
            self._skip_next = True
            return None, end
        return self._finish(data[pos:stop]), stop + 2

    def _finish(self, last: bytes) -> bytes:
        parts = self._parts
        line = b"".join(parts) + last if parts else last
        self._parts = []
        self._skip_next = False
        self.size = 0
        return line

    @property
    def waiting_for_newline(self) -> bool:
        """True unless the line only lacks the byte after its CR (no size check then)."""
        return not self._skip_next


class _Inline:
    """One inline request: Redis's `processInlineBuffer`."""

    __slots__ = ("_line", "argv", "done")

    def __init__(self) -> None:
        self._line = _Line(b"\n")
        self.argv: list[bytes] = []
        self.done = False

    @property
    def buffered(self) -> int:
        return self._line.size

    def parse(self, data: bytes, pos: int, end: int, limits: RequestParser) -> int:
        line, pos = self._line.read(data, pos, end)
        if line is None:
            if self._line.size > PROTO_INLINE_MAX_SIZE:
                raise _protocol_error(b"too big inline request")
            return pos
        if line[-1:] == b"\r":
            line = line[:-1]
        argv = split_args(line)
        if argv is None:
            raise _protocol_error(b"unbalanced quotes in request")
        self.argv = argv
        self.done = True
        return pos


class _Multibulk:
    """One multibulk request: Redis's `processMultibulkBuffer`."""

    __slots__ = ("_bulk", "_got", "_line", "_parts", "_remaining", "argv", "done")

    def __init__(self) -> None:
        self._line = _Line(b"\r")
        self._remaining = -1  # elements still to read; -1 until the count line is read
        self._bulk = -1  # length of the bulk being read; -1 while reading its header
        self._got = 0  # bytes of that bulk (payload, then its two trailing bytes) received
        self._parts: list[bytes] = []
        self.argv: list[bytes] = []
        self.done = False

    @property
    def buffered(self) -> int:
        return self._line.size if self._bulk < 0 else self._got

    def parse(self, data: bytes, pos: int, end: int, limits: RequestParser) -> int:
        while pos < end:
            if self._bulk >= 0:
                pos = self._read_payload(data, pos, end, limits)
                if self._bulk < 0:
                    self._remaining -= 1
                    if self._remaining == 0:
                        self.done = True
                        return pos
                continue
            line, pos = self._line.read(data, pos, end)
            if line is None:
                self._check_line_size()
            elif self._remaining < 0:
                self._remaining = _read_count(line, limits)
                if self._remaining == 0:
                    self.done = True
                    return pos
            else:
                self._bulk = _read_bulk_length(line, limits)
        return pos

    def _check_line_size(self) -> None:
        if self._line.size > PROTO_INLINE_MAX_SIZE and self._line.waiting_for_newline:
            if self._remaining < 0:
                raise _protocol_error(b"too big mbulk count string")
            raise _protocol_error(b"too big bulk count string")

    def _read_payload(self, data: bytes, pos: int, end: int, limits: RequestParser) -> int:
        bulk = self._bulk
        need = bulk + 2 - self._got
        if self._got == 0 and end - pos >= need:
            arg = data[pos : pos + bulk]  # the common case: the whole bulk is in this read
        else:
            take = min(need, end - pos)
            wanted = bulk - self._got
            if wanted > 0:
                piece = min(take, wanted)
                whole = pos == 0 and piece == len(data)  # a read of payload only: no copy
                self._parts.append(data if whole else data[pos : pos + piece])
            self._got += take
            if self._got > limits.max_query_buffer:
                raise ProtocolError("max query buffer length reached", None)
            if take < need:
                return end
            arg = b"".join(self._parts)
            self._parts = []
        if bulk + 2 > limits.max_query_buffer:
            raise ProtocolError("max query buffer length reached", None)
        self.argv.append(arg)
        self._bulk = -1
        self._got = 0
        return pos + need


def _read_count(line: bytes, limits: RequestParser) -> int:
    count = string2ll(line[1:])
    if count is None or count > INT_MAX:
        raise _protocol_error(b"invalid multibulk length")
    if count > UNAUTH_MAX_MULTIBULK and limits.auth_required:
        raise _protocol_error(b"unauthenticated multibulk length")
    return max(count, 0)  # Redis runs nothing for `*0` or `*-5`


def _read_bulk_length(line: bytes, limits: RequestParser) -> int:
    if line[:1] != b"$":
        # Redis prints the first byte of the line; an empty line's first byte is its CR.
        first = line[:1] or b"\r"
        raise _protocol_error(b"expected '$', got '%s'" % (b" " if first in b"\r\n" else first))
    length = string2ll(line[1:])
    if length is None or length < 0 or length > limits.max_bulk_len:
        raise _protocol_error(b"invalid bulk length")
    if length > UNAUTH_MAX_BULK and limits.auth_required:
        raise _protocol_error(b"unauthenticated bulk length")
    return length


_SPACE_BYTES: Final = frozenset(b" \t\n\v\f\r")
_ESCAPES: Final = {
    ord("n"): b"\n",
    ord("r"): b"\r",
    ord("t"): b"\t",
    ord("b"): b"\b",
    ord("a"): b"\a",
}
_HEX: Final = frozenset(b"0123456789abcdefABCDEF")
# Without quotes a word starts at a byte isspace() refuses and ends at space, tab, CR or LF
# (a vertical tab or form feed is skipped between words but kept inside one).
_BARE_WORD: Final = re.compile(rb"[^ \t\n\v\f\r][^ \t\n\r]*")


def split_args(line: bytes) -> list[bytes] | None:
    """Redis's `sdssplitargs`: split an inline request; None on unbalanced quotes."""
    nul = line.find(b"\0")
    if nul >= 0:  # Redis works on a C string here
        line = line[:nul]
    if b'"' not in line and b"'" not in line:
        return _BARE_WORD.findall(line)
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
