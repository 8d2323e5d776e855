"""CLIENT TRACKING on this node (the in-process server): the node's hook is set only while a
client tracks, the table's bound evicts (and tells), redirects and broken redirects, reads
deferred behind a client's own writes are tracked. The replies and pushes themselves are
compared with Redis's in compat/scenarios/client_tracking.txt."""

from __future__ import annotations

from concord_resp.server.client import ClientState
from tests.server.conftest import InProcess


def capture(client: ClientState, proto: int = 3) -> list[bytes]:
    """What is pushed to the client (its outbox's push_message, in a real connection)."""
    pushed: list[bytes] = []
    client.proto = proto
    client.send_push = pushed.append
    return pushed


def invalidation(*keys: bytes) -> bytes:
    body = b"".join(b"$%d\r\n%s\r\n" % (len(key), key) for key in keys)
    return b">2\r\n$10\r\ninvalidate\r\n*%d\r\n" % len(keys) + body


async def test_the_nodes_hook_is_set_only_while_a_client_tracks(node: InProcess) -> None:
    raft = node.server.node
    first, second = node.client(), node.client()
    assert raft.invalidate_keys is None  # writes pay nothing while no client tracks
    await node.one(first, "CLIENT TRACKING on")
    await node.one(second, "CLIENT TRACKING on BCAST")
    assert raft.invalidate_keys is not None
    await node.one(first, "CLIENT TRACKING off")
    assert raft.invalidate_keys is not None
    await node.one(second, "RESET")
    assert raft.invalidate_keys is None
    assert b"tracking_clients:0\r\n" in await node.one(first, "INFO clients")


async def test_the_table_is_bounded_and_evicted_keys_are_invalidated(node: InProcess) -> None:
    admin, reader = node.client(), node.client()
    pushed = capture(reader)
    await node.one(reader, "CLIENT TRACKING on")
    await node.one(admin, "CONFIG SET tracking-table-max-keys 2")
    await node.run(reader, "GET a", "GET b", "MGET b c")
    assert pushed == [invalidation(b"a")]  # the oldest key goes
    stats = await node.one(admin, "INFO stats")
    assert b"tracking_total_keys:2\r\n" in stats
    assert b"tracking_total_items:2\r\n" in stats
    await node.one(admin, "CONFIG SET tracking-table-max-keys 1")
    assert pushed[1:] == [invalidation(b"b")]
    assert await node.one(admin, "CONFIG GET tracking-table-max-keys") == (
        b"*2\r\n$23\r\ntracking-table-max-keys\r\n$1\r\n1\r\n"
    )
    await node.one(admin, "SET c 1")
    assert pushed[2:] == [invalidation(b"c")]
    assert b"tracking_total_keys:0\r\n" in await node.one(admin, "INFO stats")


async def test_invalidations_follow_a_redirect_and_a_broken_one_is_reported(
    node: InProcess,
) -> None:
    writer, reader, target = node.client(), node.client(), node.client()
    to_reader = capture(reader)
    to_target = capture(target)
    await node.one(reader, f"CLIENT TRACKING on REDIRECT {target.id}")
    await node.run(reader, "GET k", "GET j")
    await node.one(writer, "SET k 1")
    assert to_target == [invalidation(b"k")]
    assert not to_reader
    node.state.clients.remove(target)  # the client it redirects to is gone
    await node.one(writer, "SET j 1")
    assert to_reader == [b">2\r\n$21\r\ntracking-redir-broken\r\n:%d\r\n" % target.id]
    info = await node.one(reader, "CLIENT TRACKINGINFO")
    assert b"broken_redirect" in info
    assert b"flags=tR" in await node.one(writer, f"CLIENT LIST ID {reader.id}")


async def test_a_resp2_client_without_a_redirect_gets_nothing(node: InProcess) -> None:
    writer, reader = node.client(), node.client()
    pushed = capture(reader, proto=2)
    await node.run(reader, "CLIENT TRACKING on", "GET k")
    await node.one(writer, "SET k 1")
    assert not pushed


async def test_reads_deferred_behind_the_clients_own_writes_are_tracked(
    node: InProcess,
) -> None:
    writer, reader = node.client(), node.client()
    pushed = capture(reader)
    await node.one(reader, "CLIENT TRACKING on NOLOOP")
    # GET runs after the SET is applied (deferred in the outbox), and is remembered.
    replies = await node.run(reader, "SET k mine", "GET k")
    assert replies == [b"+OK\r\n", b"$4\r\nmine\r\n"]
    assert not pushed  # its own write: NOLOOP
    await node.one(writer, "SET k theirs")
    assert pushed == [invalidation(b"k")]


async def test_expired_keys_and_swapped_databases_invalidate(node: InProcess) -> None:
    """Expiry entries invalidate; SWAPDB sends a null invalidation, as a flush does (Redis
    7.0 sends nothing on SWAPDB: its clients keep values of the other database)."""
    writer, reader = node.client(), node.client()
    pushed = capture(reader)
    await node.one(reader, "CLIENT TRACKING on")
    await node.one(writer, "SET short v PX 100")
    await node.one(reader, "GET short")
    node.now_ms += 200
    await node.expire_now()  # the leader's active expiry: an entry every node applies
    assert pushed == [invalidation(b"short")]
    await node.one(writer, "SET k v")
    await node.one(reader, "GET k")
    await node.one(writer, "SWAPDB 0 1")
    assert pushed[1:] == [b">2\r\n$10\r\ninvalidate\r\n_\r\n"]
