"""Reply encoding for RESP2 and RESP3, sans-IO.

`encode_reply(value, proto)` turns one reply value (see `replies`) into wire bytes. It is on
the hot path of every command, so the common shapes (status, bulk, integer, null) are tested
first and cached constants are used for the replies Redis sends most. RESP2 renderings of
RESP3-only types follow Redis 7 (`addReplyDouble`, `addReplyBool`, `addReplyVerbatim`, ...).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from .replies import (
    NULL_ARRAY,
    BigNumber,
    ErrorReply,
    HumanDouble,
    Map,
    MapPairs,
    NestedMap,
    Pairs,
    Push,
    Raw,
    Receivers,
    RespSet,
    SimpleString,
    Verbatim,
)

_OK = b"+OK\r\n"
_NULL2 = b"$-1\r\n"
_NULL3 = b"_\r\n"
_NULL_ARRAY2 = b"*-1\r\n"
_SMALL_INTS = [b":%d\r\n" % i for i in range(-1, 1024)]


def format_double(value: float) -> bytes:
    """Redis 7.0's `%.17g` rendering of a double, as glibc prints it (`inf`, `-inf`, `-nan`)."""
    if value != value:
        return b"-nan" if math.copysign(1.0, value) < 0 else b"nan"
    if value == math.inf:
        return b"inf"
    if value == -math.inf:
        return b"-inf"
    return b"%.17g" % value


def encode_reply(value: object, proto: int = 2) -> bytes:
    """Encode one reply value for the given protocol version (2 or 3)."""
    out: list[bytes] = []
    _encode(value, proto, out)
    return out[0] if len(out) == 1 else b"".join(out)


def encode_error(message: bytes | str) -> bytes:
    """Encode an error reply the way Redis's `addReplyErrorFormat` does.

    Trailing CR/LF are trimmed and the others become spaces, so the reply stays one line.
    """
    if isinstance(message, str):
        message = message.encode()
    if b"\r" in message or b"\n" in message:
        message = message.rstrip(b"\r\n").replace(b"\r", b" ").replace(b"\n", b" ")
    return b"-" + message + b"\r\n"


def _encode(value: object, proto: int, out: list[bytes]) -> None:
    kind = type(value)
    if kind is bytes:
        out.append(b"$%d\r\n%s\r\n" % (len(value), value))  # type: ignore[arg-type]
    elif kind is SimpleString:
        out.append(_OK if value == b"OK" else b"+" + value + b"\r\n")  # type: ignore[operator]
    elif kind is int:
        if -1 <= value < 1023:  # type: ignore[operator]
            out.append(_SMALL_INTS[value + 1])  # type: ignore[operator]
        else:
            out.append(b":%d\r\n" % value)  # type: ignore[str-format]
    elif value is None:
        out.append(_NULL2 if proto == 2 else _NULL3)
    else:
        encoder = _ENCODERS.get(kind)
        if encoder is None:
            encoder = _find_encoder(kind)
        encoder(value, proto, out)


def _encode_bytes_like(value: object, proto: int, out: list[bytes]) -> None:
    data = bytes(value)  # type: ignore[call-overload]
    out.append(b"$%d\r\n%s\r\n" % (len(data), data))


def _encode_error(value: object, proto: int, out: list[bytes]) -> None:
    out.append(encode_error(value))  # type: ignore[arg-type]


def _encode_simple(value: object, proto: int, out: list[bytes]) -> None:
    out.append(b"+" + bytes(value) + b"\r\n")  # type: ignore[call-overload]


def _encode_int(value: object, proto: int, out: list[bytes]) -> None:
    out.append(b":%d\r\n" % value)  # type: ignore[str-format]


def _encode_array(value: object, proto: int, out: list[bytes]) -> None:
    items: list[object] = value  # type: ignore[assignment]
    out.append(b"*%d\r\n" % len(items))
    for item in items:
        if type(item) is bytes:  # most elements of most arrays: written out, no call
            out.append(b"$%d\r\n%s\r\n" % (len(item), item))
        else:
            _encode(item, proto, out)


def _encode_set(value: object, proto: int, out: list[bytes]) -> None:
    items: list[object] = value  # type: ignore[assignment]
    out.append((b"~%d\r\n" if proto == 3 else b"*%d\r\n") % len(items))
    for item in items:
        _encode(item, proto, out)


def _encode_push(value: object, proto: int, out: list[bytes]) -> None:
    items: list[object] = value  # type: ignore[assignment]
    out.append((b">%d\r\n" if proto == 3 else b"*%d\r\n") % len(items))
    for item in items:
        _encode(item, proto, out)


def _encode_map(value: object, proto: int, out: list[bytes]) -> None:
    pairs: dict[object, object] = value  # type: ignore[assignment]
    if proto == 3:
        out.append(b"%%%d\r\n" % len(pairs))
    else:
        out.append(b"*%d\r\n" % (2 * len(pairs)))
    for key, item in pairs.items():
        _encode(key, proto, out)
        _encode(item, proto, out)


def _encode_map_pairs(value: object, proto: int, out: list[bytes]) -> None:
    pairs: list[tuple[object, object]] = value  # type: ignore[assignment]
    out.append(
        (b"%%%d\r\n" if proto == 3 else b"*%d\r\n") % (len(pairs) * (1 if proto == 3 else 2))
    )
    for key, item in pairs:
        _encode(key, proto, out)
        _encode(item, proto, out)


def _encode_nested_map(value: object, proto: int, out: list[bytes]) -> None:
    pairs: list[tuple[object, object]] = value  # type: ignore[assignment]
    out.append((b"%%%d\r\n" if proto == 3 else b"*%d\r\n") % len(pairs))
    for key, item in pairs:
        if proto == 2:
            out.append(b"*2\r\n")
        _encode(key, proto, out)
        _encode(item, proto, out)


def _encode_pairs(value: object, proto: int, out: list[bytes]) -> None:
    pairs: list[tuple[object, object]] = value  # type: ignore[assignment]
    if proto == 3:
        out.append(b"*%d\r\n" % len(pairs))
        for first, second in pairs:
            out.append(b"*2\r\n")
            _encode(first, proto, out)
            _encode(second, proto, out)
        return
    out.append(b"*%d\r\n" % (2 * len(pairs)))
    for first, second in pairs:
        _encode(first, proto, out)
        _encode(second, proto, out)


def _encode_raw(value: object, proto: int, out: list[bytes]) -> None:
    out.append(bytes(value))  # type: ignore[call-overload]


def _encode_float(value: object, proto: int, out: list[bytes]) -> None:
    text = format_double(value)  # type: ignore[arg-type]
    if proto == 3:
        out.append(b"," + text + b"\r\n")
    else:
        out.append(b"$%d\r\n%s\r\n" % (len(text), text))


def _encode_human_double(value: object, proto: int, out: list[bytes]) -> None:
    text = bytes(value)  # type: ignore[call-overload]
    if proto == 3:
        out.append(b"," + text + b"\r\n")
    else:
        out.append(b"$%d\r\n%s\r\n" % (len(text), text))


def _encode_bool(value: object, proto: int, out: list[bytes]) -> None:
    if proto == 3:
        out.append(b"#t\r\n" if value else b"#f\r\n")
    else:
        out.append(b":1\r\n" if value else b":0\r\n")


def _encode_verbatim(value: object, proto: int, out: list[bytes]) -> None:
    verbatim: Verbatim = value  # type: ignore[assignment]
    text = verbatim.text
    if proto == 3:
        size = len(verbatim.format) + 1 + len(text)
        out.append(b"=%d\r\n%s:%s\r\n" % (size, verbatim.format, text))
    else:
        out.append(b"$%d\r\n%s\r\n" % (len(text), text))


def _encode_big_number(value: object, proto: int, out: list[bytes]) -> None:
    number = value.value  # type: ignore[attr-defined]
    text = number if type(number) is bytes else b"%d" % number
    if proto == 3:
        out.append(b"(" + text + b"\r\n")
    else:
        out.append(b"$%d\r\n%s\r\n" % (len(text), text))


def _encode_receivers(value: object, proto: int, out: list[bytes]) -> None:
    out.append(b":%d\r\n" % value.count)  # type: ignore[attr-defined]


def _encode_null_array(value: object, proto: int, out: list[bytes]) -> None:
    out.append(_NULL_ARRAY2 if proto == 2 else _NULL3)


_Encoder = Callable[[object, int, list[bytes]], None]

_ENCODERS: dict[type, _Encoder] = {
    bytearray: _encode_bytes_like,
    memoryview: _encode_bytes_like,
    ErrorReply: _encode_error,
    list: _encode_array,
    tuple: _encode_array,
    RespSet: _encode_set,
    Push: _encode_push,
    Map: _encode_map,
    MapPairs: _encode_map_pairs,
    NestedMap: _encode_nested_map,
    Pairs: _encode_pairs,
    Raw: _encode_raw,
    float: _encode_float,
    HumanDouble: _encode_human_double,
    bool: _encode_bool,
    Verbatim: _encode_verbatim,
    BigNumber: _encode_big_number,
    Receivers: _encode_receivers,
    type(NULL_ARRAY): _encode_null_array,
}


def _find_encoder(kind: type) -> _Encoder:
    # Subclasses (an IntEnum, a bytes subclass) take their base class's encoding.
    for base, encoder in (
        (ErrorReply, _encode_error),
        (SimpleString, _encode_simple),
        (bool, _encode_bool),
        (int, _encode_int),
        (bytes, _encode_bytes_like),
        (Map, _encode_map),
        (RespSet, _encode_set),
        (Push, _encode_push),
        (dict, _encode_map),
        (list, _encode_array),
        (tuple, _encode_array),
    ):
        if issubclass(kind, base):
            _ENCODERS[kind] = encoder
            return encoder
    raise TypeError(f"cannot encode a reply of type {kind.__name__}")
