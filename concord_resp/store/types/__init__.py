"""Value types: one module per Redis type, found through one registry (`base`).

Adding a type is adding a module that defines its `ValueType` and registers it, and importing
that module here; nothing else in the store or the generic commands names a type. The registry
is filled at import time and is the same on every replica.
"""

from .base import (
    ValueType,
    register,
    registered_types,
    type_for_tag,
    type_name,
    unregister,
    value_type,
)
from .hash import HASH, HashType, HashValue
from .list import LIST, ListType, ListValue
from .member_index import MemberIndex, scan_batch
from .set import SET, SetType, SetValue
from .stream import STREAM, StreamType, StreamValue
from .string import STRING, String, StringType
from .zset import ZSET, LexRange, ScoreRange, ZSet, ZSetType

__all__ = [
    "HASH",
    "LIST",
    "SET",
    "STREAM",
    "STRING",
    "ZSET",
    "HashType",
    "HashValue",
    "LexRange",
    "ListType",
    "ListValue",
    "MemberIndex",
    "ScoreRange",
    "SetType",
    "SetValue",
    "StreamType",
    "StreamValue",
    "String",
    "StringType",
    "ValueType",
    "ZSet",
    "ZSetType",
    "register",
    "registered_types",
    "scan_batch",
    "type_for_tag",
    "type_name",
    "unregister",
    "value_type",
]
