"""A value's RDB serialization, as Redis 7.0's rdbSaveObjectType and rdbSaveObject write it.

Each encoding has the RDB type Redis 7.0 gives it: a string (RDB_TYPE_STRING), a list
(QUICKLIST_2: listpack nodes), an intset or hashtable set (SET_INTSET, SET), a listpack or
skiplist sorted set (ZSET_LISTPACK, ZSET_2: members from the highest score down, scores as
binary doubles), a listpack or hashtable hash (HASH_LISTPACK, HASH), a stream
(STREAM_LISTPACKS_2, `stream.py`). Small encodings are
written as Redis lays out their memory (`listpack`, `intset`), hashtables member by member in
the value's own order (Redis's is its hash order, which differs between processes anyway).
Every embedded string goes through rdbSaveRawString's integer and LZF encodings. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from ..encoding import EncodingConfig
from ..types import HashValue, ListValue, SetValue, StreamValue, ZSet
from ..types.zset import format_score, listpack_score_integer
from . import intset, listpack, object_types, quicklist
from .primitives import write_binary_double, write_length, write_lzf_blob, write_string
from .stream import save_stream


def save_string(out: bytearray, value: bytes | bytearray, config: EncodingConfig) -> int:
    write_string(out, value)
    return object_types.STRING


def save_list(out: bytearray, value: ListValue, config: EncodingConfig) -> int:
    nodes = quicklist.build(value, config.list_max_listpack_size, config.list_compress_depth)
    write_length(out, len(nodes))
    for node in nodes:
        write_length(out, object_types.NODE_PACKED)
        if node.compressed is not None:
            write_lzf_blob(out, node.compressed, len(node.listpack))
        else:
            write_string(out, node.listpack)
    return object_types.LIST_QUICKLIST_2


def save_set(out: bytearray, value: SetValue, config: EncodingConfig) -> int:
    members = value.members
    if not isinstance(members, dict):
        write_string(out, intset.encode(members))
        return object_types.SET_INTSET
    write_length(out, len(members))
    for member in members:
        write_string(out, member)
    return object_types.SET


def save_zset(out: bytearray, value: ZSet, config: EncodingConfig) -> int:
    if value.listpack:
        entries = []
        for score, member in value.order:
            entries.append(listpack.entry(member))
            entries.append(score_entry(score))
        write_string(out, listpack.assemble(entries))
        return object_types.ZSET_LISTPACK
    write_length(out, len(value))
    # Highest first, so that Redis's loader inserts each at the head of its skiplist.
    for score, member in value.order.islice(reverse=True):
        write_string(out, member)
        write_binary_double(out, score)
    return object_types.ZSET_2


def score_entry(score: float) -> bytes:
    """zzlInsertAt's score: an integer entry where double2ll is exact, else d2string's text."""
    number = listpack_score_integer(score)
    if number is not None:
        return listpack.integer_entry(number)
    return listpack.entry(format_score(score))


def save_hash(out: bytearray, value: HashValue, config: EncodingConfig) -> int:
    if value.listpack:
        entries = []
        for field, item in value.items():
            entries.append(listpack.entry(field))
            entries.append(listpack.entry(item))
        write_string(out, listpack.assemble(entries))
        return object_types.HASH_LISTPACK
    write_length(out, len(value))
    for field, item in value.items():
        write_string(out, field)
        write_string(out, item)
    return object_types.HASH


def save_stream_object(out: bytearray, value: StreamValue, config: EncodingConfig) -> int:
    save_stream(out, value)
    return object_types.STREAM_LISTPACKS_2


_SAVERS: Final[dict[type, Callable[[bytearray, Any, EncodingConfig], int]]] = {
    bytes: save_string,
    bytearray: save_string,
    ListValue: save_list,
    SetValue: save_set,
    ZSet: save_zset,
    HashValue: save_hash,
    StreamValue: save_stream_object,
}


def save_object(value: object, config: EncodingConfig) -> bytes:
    """The object type byte and the serialized value (rdbSaveObjectType + rdbSaveObject)."""
    saver = _SAVERS.get(type(value))
    if saver is None:
        raise TypeError(f"no RDB serialization for {type(value).__name__}")
    body = bytearray()
    kind = saver(body, value, config)
    return bytes((kind,)) + body
