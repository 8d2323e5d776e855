"""Streams in DUMP payloads: Redis 7.0's RDB_TYPE_STREAM_LISTPACKS_2 (rdb.c, t_stream.c),
and the first stream type (Redis 5 to 6.2) read.

The payload is the macro nodes (each its 16-byte big-endian master ID and its listpack: the
master entry `count | deleted | num-fields | fields... | 0`, then per entry `flags | ms-diff
| seq-diff | [num-fields | fields...] | values... | lp-count`), the length, the last, first
and max-deleted IDs, entries-added, then each group (name, last ID, entries read, the PEL
with delivery times and counts, the consumers with their seen times and PEL IDs).
A node keeps its deleted entries, flagged, until it dies, as Redis's does: DUMP writes the
same listpacks as Redis. Everything is checked (IDs in order, counts, every PEL entry
owned by a consumer): a malformed payload raises `BadPayload`. Pure: no I/O.
"""

from __future__ import annotations

from heapq import merge
from typing import Final

from ..types.stream import (
    FLAG_DELETED,
    FLAG_SAMEFIELDS,
    U64_MAX,
    Consumer,
    Group,
    Nack,
    StreamID,
    StreamNode,
    StreamValue,
    int_entry_size,
)
from . import listpack
from .primitives import BadPayload, Reader, write_length, write_string

LENGTH_FLAGS: Final = FLAG_DELETED | FLAG_SAMEFIELDS


def _raw_id(stream_id: StreamID) -> bytes:
    return stream_id[0].to_bytes(8, "big") + stream_id[1].to_bytes(8, "big")


def _signed(number: int) -> int:
    """uint64 -> int64, as lpAppendInteger stores a difference."""
    return number - (1 << 64) if number >= 1 << 63 else number


def node_listpack(stream: StreamValue, node: StreamNode) -> bytes:
    """The node's listpack, as streamAppendItem would have built it from its live entries."""
    fields = node.fields
    entries = [listpack.integer_entry(node.live), listpack.integer_entry(len(node.dead))]
    entries.append(listpack.integer_entry(len(fields)))
    entries.extend(listpack.entry(field) for field in fields)
    entries.append(listpack.integer_entry(0))
    master_ms, master_seq = node.master
    live = ((stream_id, pairs, 0) for stream_id, pairs in stream.range(node.master, node.last))
    dead = ((stream_id, pairs, FLAG_DELETED) for stream_id, pairs in node.dead)
    for (ms, seq), pairs, deleted in merge(live, dead, key=lambda entry: entry[0]):
        numfields = len(pairs) // 2
        same = numfields == len(fields) and all(
            pairs[2 * i] == field for i, field in enumerate(fields)
        )
        entries.append(listpack.integer_entry((FLAG_SAMEFIELDS if same else 0) | deleted))
        entries.append(listpack.integer_entry(_signed((ms - master_ms) & U64_MAX)))
        entries.append(listpack.integer_entry(_signed((seq - master_seq) & U64_MAX)))
        if not same:
            entries.append(listpack.integer_entry(numfields))
        for i in range(numfields):
            if not same:
                entries.append(listpack.entry(pairs[2 * i]))
            entries.append(listpack.entry(pairs[2 * i + 1]))
        entries.append(listpack.integer_entry(numfields + 3 + (0 if same else numfields + 1)))
    return listpack.assemble(entries)


def save_stream(out: bytearray, stream: StreamValue) -> None:
    nodes = [node for node in stream.nodes.values() if node.live]
    write_length(out, len(nodes))
    for node in nodes:
        write_string(out, _raw_id(node.master))
        write_string(out, node_listpack(stream, node))
    write_length(out, len(stream))
    for number in (*stream.last_id, *stream.first_id, *stream.max_deleted_id):
        write_length(out, number)
    write_length(out, stream.entries_added)
    write_length(out, len(stream.groups))
    for group in stream.groups.values():
        write_string(out, group.name)
        write_length(out, group.last_id[0])
        write_length(out, group.last_id[1])
        write_length(out, group.entries_read & U64_MAX)
        write_length(out, len(group.pel))
        for stream_id, nack in group.pel.items():
            out += _raw_id(stream_id)
            out += (nack.delivery_time & U64_MAX).to_bytes(8, "little")
            write_length(out, nack.delivery_count)
        write_length(out, len(group.consumers))
        for consumer in group.consumers.values():
            write_string(out, consumer.name)
            out += (consumer.seen_time & U64_MAX).to_bytes(8, "little")
            write_length(out, len(consumer.pel))
            for stream_id in consumer.pel:
                out += _raw_id(stream_id)


# -- loading --------------------------------------------------------------------------------


def _integer(item: bytes | int) -> int:
    if type(item) is not int:
        raise BadPayload("stream listpack: an integer was expected")
    return item


def _text(item: bytes | int) -> bytes:
    return b"%d" % item if isinstance(item, int) else item


def _parse_id(raw: bytes) -> StreamID:
    return (int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:], "big"))


def _load_node(stream: StreamValue, master: StreamID, blob: bytes, after: StreamID | None) -> None:
    """One macro node: its live entries into the stream, its counts into a StreamNode."""
    items = listpack.decode(blob)
    if len(items) < 4:
        raise BadPayload("stream listpack: no master entry")
    live, deleted, numfields = (_integer(item) for item in items[:3])
    position = 3 + numfields
    if numfields < 0 or live < 0 or deleted < 0 or len(items) <= position:
        raise BadPayload("stream listpack: bad master entry")
    fields = tuple(_text(item) for item in items[3:position])
    if _integer(items[position]) != 0:
        raise BadPayload("stream listpack: master entry not terminated")
    position += 1
    node = StreamNode(master, fields)
    seen_live = seen_deleted = 0
    last = after
    while position < len(items):
        if position + 3 > len(items):
            raise BadPayload("stream listpack: truncated entry")
        flags = _integer(items[position])
        ms = (master[0] + _integer(items[position + 1])) & U64_MAX
        seq = (master[1] + _integer(items[position + 2])) & U64_MAX
        position += 3
        if flags & ~LENGTH_FLAGS:
            raise BadPayload("stream listpack: unknown entry flags")
        if flags & FLAG_SAMEFIELDS:
            count = len(fields)
            names: tuple[bytes, ...] = fields
        else:
            if position >= len(items):
                raise BadPayload("stream listpack: truncated entry")
            count = _integer(items[position])
            position += 1
            if count < 0 or position + 2 * count > len(items):
                raise BadPayload("stream listpack: truncated entry")
            names = tuple(_text(items[position + 2 * i]) for i in range(count))
        pairs: list[bytes] = []
        for i in range(count):
            value = items[position + i if flags & FLAG_SAMEFIELDS else position + 2 * i + 1]
            pairs += (names[i], _text(value))
        position += count if flags & FLAG_SAMEFIELDS else 2 * count
        if position >= len(items):
            raise BadPayload("stream listpack: entry without lp-count")
        expected = count + 3 + (0 if flags & FLAG_SAMEFIELDS else count + 1)
        if _integer(items[position]) != expected:
            raise BadPayload("stream listpack: bad lp-count")
        position += 1
        stream_id = (ms, seq)
        if (last is not None and stream_id <= last) or stream_id < master:
            raise BadPayload("stream entries out of order")
        last = stream_id
        node.last = stream_id
        if flags & FLAG_DELETED:
            seen_deleted += 1
            node.dead.append((stream_id, pairs))
        else:
            seen_live += 1
            stream.entries[stream_id] = pairs
    if (seen_live, seen_deleted) != (live, deleted) or not live + deleted:
        raise BadPayload("stream listpack: entry counts do not match")
    node.live, node.deleted = live, deleted
    node.rest = len(blob) - 7 - int_entry_size(live) - int_entry_size(deleted)
    if live:
        stream.nodes[master] = node


def load_stream(reader: Reader, *, version2: bool = True) -> StreamValue:
    """A stream of RDB_TYPE_STREAM_LISTPACKS_2, or of the first type (Redis 5 to 6.2:
    `version2` False), which lacks the first and max-deleted IDs, entries-added and each
    group's entries-read: they are derived as Redis 7.0 derives them when it loads one."""
    stream = StreamValue()
    last: StreamID | None = None
    for _ in range(reader.length()):
        key = reader.string()
        if len(key) != 16:
            raise BadPayload("stream node key is not a stream ID")
        master = _parse_id(key)
        if master in stream.nodes:
            raise BadPayload("stream node repeated")
        _load_node(stream, master, reader.string(), last)
        if stream.entries:
            last = stream.entries.peekitem(-1)[0]
    if reader.length() != len(stream.entries):
        raise BadPayload("stream length does not match its entries")
    stream.last_id = (reader.length(), reader.length())
    if version2:
        stream.first_id = (reader.length(), reader.length())
        stream.max_deleted_id = (reader.length(), reader.length())
        stream.entries_added = reader.length()
    else:  # streamGetEdgeID: the first live entry's ID, the largest ID if there is none
        stream.first_id = stream.entries.peekitem(0)[0] if stream.entries else (U64_MAX, U64_MAX)
        stream.entries_added = len(stream.entries)
    if stream.entries and stream.entries.peekitem(-1)[0] > stream.last_id:
        raise BadPayload("stream entries past its last ID")
    for _ in range(reader.length()):
        name = reader.string()
        if name in stream.groups:
            raise BadPayload("duplicate consumer group")
        last_id = (reader.length(), reader.length())
        if version2:
            entries_read = reader.length()
            if entries_read >= 1 << 63:
                entries_read -= 1 << 64
        else:
            entries_read = stream.estimate_distance(last_id)
        group = Group(name, last_id, entries_read)
        owners: dict[StreamID, Nack] = {}
        nobody = Consumer(b"", 0)
        for _ in range(reader.length()):
            stream_id = _parse_id(reader.take(16))
            when = int.from_bytes(reader.take(8), "little", signed=True)
            nack = Nack(nobody, when, reader.length())
            if stream_id in group.pel:
                raise BadPayload("duplicate PEL entry")
            group.pel[stream_id] = nack
            owners[stream_id] = nack
        for _ in range(reader.length()):
            consumer_name = reader.string()
            if group.consumer(consumer_name) is not None:
                raise BadPayload("duplicate consumer")
            consumer = group.create_consumer(
                consumer_name, int.from_bytes(reader.take(8), "little", signed=True)
            )
            for _ in range(reader.length()):
                stream_id = _parse_id(reader.take(16))
                owned = owners.get(stream_id)
                if owned is None or owned.consumer is not nobody:
                    raise BadPayload("consumer PEL entry not in the group's PEL")
                owned.consumer = consumer
                consumer.pel[stream_id] = owned
        if any(nack.consumer is nobody for nack in owners.values()):
            raise BadPayload("PEL entry without a consumer")
        stream.groups[name] = group
    return stream
