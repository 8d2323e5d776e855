"""A value from its RDB serialization, as Redis 7.0's rdbLoadObject builds it for RESTORE.

Every object type Redis 7.0 restores is read: strings; lists (LIST, LIST_ZIPLIST,
QUICKLIST with ziplist nodes, QUICKLIST_2 with listpack or plain nodes); sets (SET, SET_INTSET);
sorted sets (ZSET with text scores, ZSET_2, ZSET_ZIPLIST, ZSET_LISTPACK); hashes (HASH,
HASH_ZIPMAP, HASH_ZIPLIST, HASH_LISTPACK). The value gets the encoding Redis would give it
under the current thresholds, decided where rdbLoadObject decides it: a SET longer than
set-max-intset-entries is a hashtable from the start, else an intset until a member is not
an integer; a HASH is a listpack until it has too many fields or a field or value is too
long; a ZSET/ZSET_2 becomes a listpack after loading if it is small; a serialized listpack,
ziplist or intset is converted only if it has too many elements (not for long ones). Streams
(STREAM_LISTPACKS_2 and Redis 5-6.2's STREAM_LISTPACKS) are read by `stream.py`; module
values are refused, as are empty values, duplicate members, NaN scores and any malformed
structure, all with `BadPayload`. Redis checks a listpack or intset deeply only
with sanitize-dump-payload; here every structure is checked fully, and a sorted set's
listpack must be in (score, member) order, so a value that would break Redis later is
refused now. Pure: no I/O.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import Final

from ...resp import string2ll
from ..encoding import EncodingConfig
from ..types import HashValue, ListValue, SetValue, StreamValue, ZSet
from ..types.hash import listpack_entry_size
from ..types.set import INTSET_MAX_ENTRIES
from ..types.zset import LISTPACK_MAX_SAFETY_SIZE
from ..types.zset import ZSET as ZSET_TYPE
from . import intset, listpack, object_types, ziplist
from .primitives import BadPayload, Reader, c_double
from .stream import load_stream

Value = bytes | ListValue | SetValue | ZSet | HashValue | StreamValue

SCORE_TEXT_MAX: Final = 127  # zzlStrtod copies at most this much


def load_object(reader: Reader, config: EncodingConfig) -> Value:
    """rdbLoadObjectType + rdbLoadObject: the value the payload starts with."""
    return load_value(reader, reader.byte(), config)


def load_value(reader: Reader, kind: int, config: EncodingConfig) -> Value:
    """rdbLoadObject: a value of RDB object type `kind` (in an RDB file the key sits between
    the type byte and the value)."""
    loader = _LOADERS.get(kind)
    if loader is None:
        raise BadPayload(f"RDB object type {kind} cannot be restored")
    return loader(reader, config)


def _count(reader: Reader) -> int:
    """A collection's element count: never 0 (Redis refuses an empty key)."""
    size = reader.length()
    if size == 0:
        raise BadPayload("empty collection")
    return size


# -- strings and lists ----------------------------------------------------------------------


def load_string(reader: Reader, config: EncodingConfig) -> Value:
    return reader.string()


def load_list(reader: Reader, config: EncodingConfig) -> Value:
    size = _count(reader)
    return ListValue(_repeat(reader.string, size))


def _repeat(read: Callable[[], bytes], times: int) -> Iterator[bytes]:
    # A declared count may be absurd: reading stops at the first short read.
    for _ in range(times):
        yield read()


def _text(item: bytes | int) -> bytes:
    return item if isinstance(item, bytes) else b"%d" % item


def load_quicklist(reader: Reader, config: EncodingConfig, *, version: int) -> Value:
    nodes = _count(reader)
    elements = ListValue()
    for _ in range(nodes):
        container = object_types.NODE_PACKED
        if version == 2:
            container = reader.length()
            if container not in (object_types.NODE_PACKED, object_types.NODE_PLAIN):
                raise BadPayload("quicklist node container")
        data = reader.string()
        if not data:
            raise BadPayload("empty quicklist node")
        if container == object_types.NODE_PLAIN:
            elements.append(data)
            continue
        items = listpack.decode(data) if version == 2 else ziplist.decode_ziplist(data)
        elements.extend(_text(item) for item in items)  # an empty node is skipped
    if not elements:
        raise BadPayload("empty list")
    return elements


def load_list_ziplist(reader: Reader, config: EncodingConfig) -> Value:
    items = ziplist.decode_ziplist(reader.string())
    if not items:
        raise BadPayload("empty list")
    return ListValue(_text(item) for item in items)


# -- sets -----------------------------------------------------------------------------------


def load_set(reader: Reader, config: EncodingConfig) -> Value:
    size = _count(reader)
    if size > min(config.set_max_intset_entries, INTSET_MAX_ENTRIES):
        return _hashtable_set(reader, size, {})
    numbers: set[int] = set()
    for done in range(size):
        member = reader.string()
        number = string2ll(member)
        if number is None:
            # The intset becomes a hashtable (ascending), and the rest is added to it.
            table = dict.fromkeys(b"%d" % n for n in sorted(numbers))
            table[member] = None
            return _hashtable_set(reader, size - done - 1, table)
        if number in numbers:
            raise BadPayload("duplicate set member")
        numbers.add(number)
    return SetValue(array("q", sorted(numbers)))


def _hashtable_set(reader: Reader, remaining: int, table: dict[bytes, None]) -> SetValue:
    for _ in range(remaining):
        member = reader.string()
        if member in table:
            raise BadPayload("duplicate set member")
        table[member] = None
    return SetValue(table)


def load_set_intset(reader: Reader, config: EncodingConfig) -> Value:
    members = intset.decode(reader.string())
    value = SetValue(array("q", members))
    if len(members) > config.set_max_intset_entries:
        value.convert()
    return value


# -- sorted sets ----------------------------------------------------------------------------


def load_zset(reader: Reader, config: EncodingConfig, *, binary: bool) -> Value:
    size = _count(reader)
    scores: dict[bytes, float] = {}
    for _ in range(size):
        member = reader.string()
        score = reader.binary_double() if binary else reader.text_double()
        if math.isnan(score):
            raise BadPayload("NaN score")
        if member in scores:
            raise BadPayload("duplicate sorted set member")
        scores[member] = score
    value = ZSet.skiplist_of(scores)
    value.to_listpack_if_small(config)  # zsetConvert after loading, if small enough
    return value


def _score(item: bytes | int) -> float:
    """A listpack or ziplist score: an integer, or a text zzlStrtod reads whole."""
    if not isinstance(item, bytes):
        return float(item)
    score = c_double(item[:SCORE_TEXT_MAX].split(b"\0", 1)[0], whole=True)
    if score is None:
        raise BadPayload("unreadable score")
    return score


def _pairs(items: list[bytes | int]) -> list[tuple[bytes, bytes | int]]:
    """(field, value) pairs of a flat listpack or ziplist; its fields must be distinct."""
    if len(items) % 2:
        raise BadPayload("odd number of elements in a pairs encoding")
    pairs = [(_text(field), value) for field, value in zip(items[::2], items[1::2], strict=True)]
    if len({field for field, _ in pairs}) != len(pairs):
        raise BadPayload("duplicate field")
    return pairs


def _packed_zset(items: list[bytes | int], config: EncodingConfig) -> ZSet:
    pairs = [(member, _score(score)) for member, score in _pairs(items)]
    if not pairs:
        raise BadPayload("empty sorted set")
    if any(math.isnan(score) for _, score in pairs):
        raise BadPayload("NaN score")
    if any((a[1], a[0]) >= (b[1], b[0]) for a, b in pairwise(pairs)):
        raise BadPayload("sorted set listpack out of order")
    if len(pairs) > config.zset_max_listpack_entries:
        return ZSet.skiplist_of(dict(pairs))
    flat: list[object] = []
    for member, score in pairs:
        flat += (member, score)
    return ZSET_TYPE.from_snapshot([True, flat])


def load_zset_listpack(reader: Reader, config: EncodingConfig) -> Value:
    return _packed_zset(listpack.decode(reader.string()), config)


def load_zset_ziplist(reader: Reader, config: EncodingConfig) -> Value:
    return _packed_zset(ziplist.decode_ziplist(reader.string()), config)


# -- hashes ---------------------------------------------------------------------------------


def load_hash(reader: Reader, config: EncodingConfig) -> Value:
    size = _count(reader)
    value = HashValue(listpack=size <= config.hash_max_listpack_entries)
    limit = config.hash_max_listpack_value
    packed_bytes = listpack.EMPTY_SIZE
    for _ in range(size):
        field = reader.string()
        item = reader.string()
        if value.listpack and (
            len(field) > limit
            or len(item) > limit
            or packed_bytes + len(field) + len(item) > LISTPACK_MAX_SAFETY_SIZE
        ):
            value.listpack = False
        elif value.listpack:
            packed_bytes += listpack_entry_size(field) + listpack_entry_size(item)
        if field in value:
            raise BadPayload("duplicate hash field")
        value[field] = item  # (a new hash has no member index to keep up to date)
    return value


def _packed_hash(pairs: list[tuple[bytes, bytes]], config: EncodingConfig) -> HashValue:
    if not pairs:
        raise BadPayload("empty hash")
    return HashValue(pairs, listpack=len(pairs) <= config.hash_max_listpack_entries)


def load_hash_listpack(reader: Reader, config: EncodingConfig) -> Value:
    pairs = _pairs(listpack.decode(reader.string()))
    return _packed_hash([(field, _text(item)) for field, item in pairs], config)


def load_hash_ziplist(reader: Reader, config: EncodingConfig) -> Value:
    pairs = _pairs(ziplist.decode_ziplist(reader.string()))
    return _packed_hash([(field, _text(item)) for field, item in pairs], config)


def load_hash_zipmap(reader: Reader, config: EncodingConfig) -> Value:
    pairs = ziplist.decode_zipmap(reader.string())
    if len({field for field, _ in pairs}) != len(pairs):
        raise BadPayload("duplicate hash field")
    packed_bytes = listpack.EMPTY_SIZE
    for field, item in pairs:
        if packed_bytes + len(field) + len(item) > LISTPACK_MAX_SAFETY_SIZE:
            raise BadPayload("zipmap too big for a listpack")
        packed_bytes += listpack_entry_size(field) + listpack_entry_size(item)
    value = _packed_hash(pairs, config)
    longest = max(max(len(field), len(item)) for field, item in pairs)
    if longest > config.hash_max_listpack_value:
        value.listpack = False
    return value


_LOADERS: Final[dict[int, Callable[[Reader, EncodingConfig], Value]]] = {
    object_types.STRING: load_string,
    object_types.LIST: load_list,
    object_types.SET: load_set,
    object_types.ZSET: lambda reader, config: load_zset(reader, config, binary=False),
    object_types.HASH: load_hash,
    object_types.ZSET_2: lambda reader, config: load_zset(reader, config, binary=True),
    object_types.HASH_ZIPMAP: load_hash_zipmap,
    object_types.LIST_ZIPLIST: load_list_ziplist,
    object_types.SET_INTSET: load_set_intset,
    object_types.ZSET_ZIPLIST: load_zset_ziplist,
    object_types.HASH_ZIPLIST: load_hash_ziplist,
    object_types.LIST_QUICKLIST: lambda reader, config: load_quicklist(reader, config, version=1),
    object_types.HASH_LISTPACK: load_hash_listpack,
    object_types.ZSET_LISTPACK: load_zset_listpack,
    object_types.LIST_QUICKLIST_2: lambda reader, config: load_quicklist(reader, config, version=2),
    object_types.STREAM_LISTPACKS_2: lambda reader, config: load_stream(reader),
    object_types.STREAM_LISTPACKS: lambda reader, config: load_stream(reader, version2=False),
}
