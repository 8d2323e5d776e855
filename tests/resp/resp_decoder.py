"""An independent RESP2/RESP3 reply decoder for the tests: wire bytes in, tagged values out.

Written from the protocol specification (redis.io/docs/reference/protocol-spec), sharing no
code with `concord_resp.resp`, so the encoder is checked against a second reading of the
spec rather than against itself. It is strict: a missing CRLF, a length that does not match
or trailing bytes raise `DecodeError`. Every RESP type decodes to a distinct Python value,
so a test can tell `+OK` from `$2\\r\\nOK` and a RESP3 map from a flat array.
"""

from __future__ import annotations

from dataclasses import dataclass


class DecodeError(ValueError):
    """The bytes are not one well-formed RESP value."""


@dataclass(frozen=True)
class Simple:
    text: bytes


@dataclass(frozen=True)
class Error:
    text: bytes


@dataclass(frozen=True)
class Null:
    kind: str  # "bulk" ($-1), "array" (*-1) or "null" (RESP3 _)


@dataclass(frozen=True)
class Double:
    text: bytes  # kept as sent: the exact digits are what is being tested


@dataclass(frozen=True)
class Big:
    value: int


@dataclass(frozen=True)
class VerbatimText:
    format: bytes
    text: bytes


@dataclass(frozen=True)
class MapValue:
    pairs: tuple[tuple[object, object], ...]  # keys may be arrays: no dict


@dataclass(frozen=True)
class SetValue:
    items: tuple[object, ...]


@dataclass(frozen=True)
class PushValue:
    items: tuple[object, ...]


def decode(data: bytes) -> object:
    """Decode exactly one value; anything left over is an error."""
    value, pos = decode_at(data, 0)
    if pos != len(data):
        raise DecodeError(f"{len(data) - pos} trailing bytes after the value")
    return value


def decode_all(data: bytes) -> list[object]:
    """Decode a stream of values (pipelined replies)."""
    values = []
    pos = 0
    while pos < len(data):
        value, pos = decode_at(data, pos)
        values.append(value)
    return values


def decode_at(data: bytes, pos: int) -> tuple[object, int]:
    if pos >= len(data):
        raise DecodeError("no value: end of data")
    kind = data[pos : pos + 1]
    line, pos = _line(data, pos + 1)
    if kind == b"+":
        return Simple(line), pos
    if kind == b"-":
        return Error(line), pos
    if kind == b":":
        return _integer(line), pos
    if kind == b"$":
        length = _integer(line)
        if length == -1:
            return Null("bulk"), pos
        return _blob(data, pos, length)
    if kind == b"!":
        text, pos = _blob(data, pos, _integer(line))
        return Error(text), pos
    if kind == b"=":
        text, pos = _blob(data, pos, _integer(line))
        if text[3:4] != b":":
            raise DecodeError(f"verbatim string without a format: {text!r}")
        return VerbatimText(text[:3], text[4:]), pos
    if kind == b"_":
        if line:
            raise DecodeError("null with a payload")
        return Null("null"), pos
    if kind == b",":
        _check_double(line)
        return Double(line), pos
    if kind == b"#":
        if line not in (b"t", b"f"):
            raise DecodeError(f"bad boolean {line!r}")
        return line == b"t", pos
    if kind == b"(":
        return Big(_integer(line, big=True)), pos
    if kind in (b"*", b"~", b">"):
        count = _integer(line)
        if count == -1 and kind == b"*":
            return Null("array"), pos
        items, pos = _items(data, pos, count)
        if kind == b"~":
            return SetValue(tuple(items)), pos
        if kind == b">":
            return PushValue(tuple(items)), pos
        return items, pos
    if kind == b"%":
        flat, pos = _items(data, pos, 2 * _integer(line))
        return MapValue(tuple(zip(flat[::2], flat[1::2], strict=True))), pos
    raise DecodeError(f"unknown type byte {kind!r}")


def _line(data: bytes, pos: int) -> tuple[bytes, int]:
    end = data.find(b"\r\n", pos)
    if end < 0:
        raise DecodeError("line without CRLF")
    line = data[pos:end]
    if b"\r" in line or b"\n" in line:
        raise DecodeError(f"CR or LF inside a line: {line!r}")
    return line, end + 2


def _integer(line: bytes, *, big: bool = False) -> int:
    digits = line[1:] if line[:1] == b"-" else line
    if not digits.isdigit() or (len(digits) > 1 and digits[:1] == b"0"):
        raise DecodeError(f"bad integer {line!r}")
    value = int(line)
    if not big and not -(2**63) <= value < 2**63:
        raise DecodeError(f"integer out of 64-bit range: {line!r}")
    return value


def _blob(data: bytes, pos: int, length: int) -> tuple[bytes, int]:
    if length < 0:
        raise DecodeError(f"negative length {length}")
    end = pos + length
    if data[end : end + 2] != b"\r\n":
        raise DecodeError("blob not followed by CRLF")
    return data[pos:end], end + 2


def _items(data: bytes, pos: int, count: int) -> tuple[list[object], int]:
    if count < 0:
        raise DecodeError(f"negative count {count}")
    items = []
    for _ in range(count):
        item, pos = decode_at(data, pos)
        items.append(item)
    return items, pos


def _check_double(text: bytes) -> None:
    if text in (b"inf", b"-inf", b"nan", b"-nan"):
        return
    try:
        float(text)
    except ValueError:
        raise DecodeError(f"bad double {text!r}") from None
