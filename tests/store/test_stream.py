"""The stream type: IDs, macro nodes and trimming, the group bookkeeping, snapshots, COPY and
the RDB encoding (the commands' replies are checked against Redis in compat/)."""

from __future__ import annotations

import pytest

from concord_resp.store.encoding import EncodingConfig
from concord_resp.store.rdb import BadPayload
from concord_resp.store.rdb.load import load_object
from concord_resp.store.rdb.primitives import Reader
from concord_resp.store.rdb.save import save_object
from concord_resp.store.types import STREAM, StreamValue
from concord_resp.store.types.stream import (
    INVALID_ENTRIES_READ,
    U64_MAX,
    Group,
    Nack,
)

CONFIG = EncodingConfig()


def filled(count: int, *, max_entries: int = 100, max_bytes: int = 4096) -> StreamValue:
    stream = StreamValue()
    for n in range(1, count + 1):
        stream.append((n, 0), [b"field", b"value%d" % n], max_bytes, max_entries)
    return stream


def test_next_id_never_goes_backwards() -> None:
    stream = StreamValue()
    assert stream.next_id(5) == (5, 0)
    stream.append((5, 0), [b"f", b"v"], 4096, 100)
    assert stream.next_id(5) == (5, 1)
    assert stream.next_id(3) == (5, 1)  # a clock behind the last ID
    assert stream.next_id(9) == (9, 0)
    stream.last_id = (7, U64_MAX)
    assert stream.next_id(1) == (8, 0)
    stream.last_id = (U64_MAX, U64_MAX)
    assert stream.next_id(1) is None


def test_a_node_closes_at_the_entry_count_or_the_byte_limit() -> None:
    assert len(filled(250).nodes) == 3  # 100 + 100 + 50
    assert len(filled(30, max_entries=7).nodes) == 5
    assert len(filled(10, max_entries=0).nodes) == 1
    small = filled(40, max_bytes=100)
    assert all(node.size() < 100 + 30 for node in small.nodes.values())
    assert len(small.nodes) > 5


def test_deleting_every_entry_of_a_node_removes_it() -> None:
    stream = filled(150)
    assert len(stream.nodes) == 2
    for n in range(101, 151):
        assert stream.delete((n, 0))
    assert len(stream.nodes) == 1
    assert not stream.delete((101, 0))
    assert stream.max_deleted_id == (150, 0)
    assert stream.node_of((50, 0)).deleted == 0


def test_approximate_trimming_removes_whole_nodes_only() -> None:
    stream = filled(250)
    assert stream.trim(180, None, approx=True, limit=10000) == 0  # 250 - 100 < 180
    assert stream.trim(140, None, approx=True, limit=10000) == 100
    assert len(stream) == 150
    assert stream.first_id == (101, 0)
    assert stream.trim(140, None, approx=False, limit=0) == 10
    assert stream.first_id == (111, 0)
    node = stream.node_of((111, 0))
    assert (node.live, node.deleted) == (90, 10)  # marked deleted, still in the node
    assert stream.trim(None, (240, 0), approx=True, limit=10000) == 90  # the first node
    assert stream.trim(0, None, approx=True, limit=10) == 0  # LIMIT below a node
    assert stream.trim(None, (300, 0), approx=False, limit=0) == 50
    assert len(stream) == 0
    assert stream.first_id == (0, 0)


def test_radix_tree_nodes_as_rax_counts_them() -> None:
    # Figures from Redis 7.0.15's XINFO STREAM for the same node keys.
    assert StreamValue().radix_tree_nodes() == 1
    assert filled(1).radix_tree_nodes() == 2
    assert filled(250).radix_tree_nodes() == 8


def test_lag_and_entries_read_follow_redis() -> None:
    stream = filled(3)
    group = Group(b"g", (0, 0), 0)
    assert stream.lag(group) == 3
    stream.deliver(group, (1, 0))
    assert (group.entries_read, stream.lag(group)) == (1, 2)
    stream.delete((2, 0))  # a tombstone ahead of the group: the lag is unknown
    assert stream.lag(group) is None
    stream.deliver(group, (3, 0))  # no tombstone from 3-0 on: counted one more, as Redis does
    assert (group.entries_read, stream.lag(group)) == (2, 1)
    unknown = Group(b"u", (1, 5), INVALID_ENTRIES_READ)
    assert stream.estimate_distance((1, 5)) == INVALID_ENTRIES_READ
    assert stream.lag(unknown) is None


def with_groups() -> StreamValue:
    stream = filled(120)
    stream.delete((3, 0))
    group = Group(b"g", (10, 0), 10)
    alice = group.create_consumer(b"alice", 1000)
    bob = group.create_consumer(b"bob", 2000)
    for n, owner in ((1, alice), (2, bob), (7, alice)):
        nack = Nack(owner, 500 + n, n)
        group.pel[(n, 0)] = nack
        owner.pel[(n, 0)] = nack
    stream.groups[b"g"] = group
    stream.groups[b"empty"] = Group(b"empty", (0, 0), INVALID_ENTRIES_READ)
    return stream


def shape(stream: StreamValue) -> object:
    return STREAM.to_snapshot(stream)


def test_snapshot_and_copy_keep_everything() -> None:
    stream = with_groups()
    again = STREAM.from_snapshot(STREAM.to_snapshot(stream))
    assert shape(again) == shape(stream)
    assert STREAM.mix_digest(bytes(20), again) == STREAM.mix_digest(bytes(20), stream)
    copy = STREAM.duplicate(stream)
    copy.groups[b"g"].consumers[b"alice"].pel.clear()
    copy.append((500, 0), [b"f", b"v"], 4096, 100)
    assert len(stream) == 119
    assert stream.groups[b"g"].consumers[b"alice"].pel
    assert not STREAM.is_empty(StreamValue())  # Redis keeps an empty stream
    with pytest.raises(ValueError, match="stream payload"):
        STREAM.from_snapshot([1, 2, 3])


def test_rdb_round_trip_keeps_entries_groups_and_pels() -> None:
    stream = with_groups()
    payload = save_object(stream, CONFIG)
    assert payload[0] == 19  # RDB_TYPE_STREAM_LISTPACKS_2
    loaded = load_object(Reader(payload), CONFIG)
    assert isinstance(loaded, StreamValue)
    assert list(loaded.entries.items()) == list(stream.entries.items())
    assert (loaded.last_id, loaded.first_id, loaded.max_deleted_id, loaded.entries_added) == (
        stream.last_id,
        stream.first_id,
        stream.max_deleted_id,
        stream.entries_added,
    )
    assert list(loaded.nodes) == list(stream.nodes)
    group = loaded.groups[b"g"]
    assert (group.last_id, group.entries_read) == ((10, 0), 10)
    assert loaded.groups[b"empty"].entries_read == INVALID_ENTRIES_READ
    assert [
        (i, n.consumer.name, n.delivery_time, n.delivery_count) for i, n in group.pel.items()
    ] == [
        ((1, 0), b"alice", 501, 1),
        ((2, 0), b"bob", 502, 2),
        ((7, 0), b"alice", 507, 7),
    ]
    assert group.consumers[b"bob"].seen_time == 2000


def test_malformed_stream_payloads_are_refused() -> None:
    payload = save_object(with_groups(), CONFIG)
    for cut in (5, 40, len(payload) // 2, len(payload) - 3):
        with pytest.raises(BadPayload):
            load_object(Reader(payload[:cut]), CONFIG)


def test_deleted_entries_stay_in_their_node_until_it_dies() -> None:
    stream = filled(150)
    stream.delete((5, 0))
    stream.trim(None, (3, 0), approx=False, limit=0)
    node = stream.node_of((50, 0))
    assert node.deleted == 3
    assert [stream_id for stream_id, _ in node.dead] == [(1, 0), (2, 0), (5, 0)]
    payload = save_object(stream, CONFIG)
    again = load_object(Reader(payload), CONFIG)
    assert isinstance(again, StreamValue)
    assert save_object(again, CONFIG) == payload  # the flagged entries are written back
    assert STREAM.to_snapshot(STREAM.from_snapshot(STREAM.to_snapshot(stream))) == shape(stream)
    for n in range(101, 151):
        stream.delete((n, 0))
    assert len(stream.nodes) == 1  # the second node died with its last live entry
