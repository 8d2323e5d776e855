"""Reply values: what command handlers return, before a protocol version is chosen.

Handlers never build wire bytes; they return plain Python values and these few marker types,
and `encoder.encode_reply` renders them for RESP2 or RESP3. The mapping is:

    bytes / bytearray   bulk string          int            integer
    None                null bulk string     list / tuple   array
    SimpleString        +status              ErrorReply     -error
    float               double (RESP3)       bool           boolean (RESP3)
    HumanDouble         double (RESP3) given as its text (GEOPOS coordinates)
    Map                 map (RESP3)          RespSet        set (RESP3)
    Verbatim            verbatim string      NULL_ARRAY     null array (RESP2 `*-1`)
    BigNumber           big number (RESP3)   Push           push (RESP3)
    MapPairs            map (RESP3) that may repeat a key (COMMAND DOCS of a name asked twice)
    NestedMap           map (RESP3) of (key, value) pairs, an array of [key, value] in RESP2
    Pairs               (a, b) pairs: an array of 2-element arrays in RESP3, one flat array in
                        RESP2 (HRANDFIELD ... WITHVALUES, ZRANGE ... WITHSCORES)
    Raw                 bytes already encoded for the connection's protocol (a transaction's
                        reply, whose parts follow a HELLO inside it)

In RESP2 the RESP3-only types degrade the way Redis degrades them (maps flatten to arrays,
doubles become bulk strings, booleans become 1/0, verbatim strings become bulk strings).
"""

from __future__ import annotations

from typing import Final, TypeAlias


class SimpleString(bytes):
    """A status reply (`+OK`). Must not contain CR or LF."""

    __slots__ = ()


class ErrorReply(bytes):
    """An error reply without the leading `-` (for example `ERR syntax error`)."""

    __slots__ = ()


class Map(dict):  # type: ignore[type-arg]
    """A RESP3 map; a flat key/value array in RESP2. Keys and values are reply values."""

    __slots__ = ()


class MapPairs(list):  # type: ignore[type-arg]
    """A RESP3 map as a list of (key, value) pairs, in order, keys possibly repeated."""

    __slots__ = ()


class Pairs(list):  # type: ignore[type-arg]
    """A list of (a, b) tuples: RESP3 nests each pair in an array of two, RESP2 flattens
    them into one array (Redis's `addReplyArrayLen(c, 2)` only when `c->resp > 2`)."""

    __slots__ = ()


class NestedMap(list):  # type: ignore[type-arg]
    """(key, value) pairs: a RESP3 map, in RESP2 an array of 2-element arrays (XREAD's
    reply: Redis's `addReplyArrayLen(c, 2)` per key only when `c->resp == 2`)."""

    __slots__ = ()


class HumanDouble(bytes):
    """A double already formatted, as Redis's `addReplyHumanLongDouble` sends it: a RESP3
    double (`,13.36138933897018433`) or, in RESP2, a bulk string of the same text. Its text
    is not `%.17g` (a `float` reply's), so it travels as bytes; where a reply is kept as a
    plain value (the session table), it is kept as its bulk string."""

    __slots__ = ()


class Raw(bytes):
    """A reply already encoded for the protocol of the connection it is for."""

    __slots__ = ()


class RespSet(list):  # type: ignore[type-arg]
    """A RESP3 set; an array in RESP2."""

    __slots__ = ()


class Push(list):  # type: ignore[type-arg]
    """A RESP3 push message; an array in RESP2."""

    __slots__ = ()


class Receivers:
    """PUBLISH's reply: how many clients received the message, an integer. Known only once
    the node serving the publisher has delivered the message (`count`), so the pure handler
    returns this and that node fills it in; elsewhere (a script's `redis.call`) it stays 0,
    the same on every replica."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __repr__(self) -> str:
        return f"Receivers({self.count})"


class Verbatim:
    """A RESP3 verbatim string (`=15\\r\\ntxt:Some string`); a bulk string in RESP2."""

    __slots__ = ("format", "text")

    def __init__(self, text: bytes, format: bytes = b"txt") -> None:
        self.text = text
        self.format = format

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Verbatim) and (self.text, self.format) == (
            other.text,
            other.format,
        )

    def __hash__(self) -> int:
        return hash((self.text, self.format))

    def __repr__(self) -> str:
        return f"Verbatim({self.text!r}, {self.format!r})"


class BigNumber:
    """A RESP3 big number; a bulk string in RESP2. Its value is an int, or the digits as a
    script gave them (bytes, sent as they are)."""

    __slots__ = ("value",)

    def __init__(self, value: int | bytes) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, BigNumber) and self.value == other.value

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"BigNumber({self.value!r})"


class _NullArray:
    """The null array: `*-1` in RESP2 (EXEC aborted by WATCH), `_` in RESP3."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NULL_ARRAY"


NULL_ARRAY: Final = _NullArray()

Reply: TypeAlias = object
"""Any value the encoder accepts (see the module docstring)."""

OK: Final = SimpleString(b"OK")
QUEUED: Final = SimpleString(b"QUEUED")
PONG: Final = SimpleString(b"PONG")
