"""RESP2/RESP3 wire format, sans-IO: request parsing and reply encoding.

No sockets, no clock: bytes in, argv lists out (`RequestParser`); reply values in, bytes out
(`encode_reply`). See `replies` for the reply value types handlers return.
"""

from .encoder import encode_error, encode_reply, format_double
from .parser import RequestParser, split_args, string2ll
from .replies import (
    NULL_ARRAY,
    OK,
    PONG,
    QUEUED,
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
    Reply,
    RespSet,
    SimpleString,
    Verbatim,
)

__all__ = [
    "NULL_ARRAY",
    "OK",
    "PONG",
    "QUEUED",
    "BigNumber",
    "ErrorReply",
    "HumanDouble",
    "Map",
    "MapPairs",
    "NestedMap",
    "Pairs",
    "Push",
    "Raw",
    "Receivers",
    "Reply",
    "RequestParser",
    "RespSet",
    "SimpleString",
    "Verbatim",
    "encode_error",
    "encode_reply",
    "format_double",
    "split_args",
    "string2ll",
]
