"""CLIENT PAUSE on this node, on trio's mock clock: what a pause holds, how long, in which
order held clients go, and what extends it (Redis 7.0's pauseClients rules)."""

from __future__ import annotations

import trio
import trio.testing

from concord_resp.server.pause import ALL, OFF, WRITE, ClientPause
from tests.server.conftest import InProcess


def test_a_write_pause_holds_writes_and_an_all_pause_everything() -> None:
    now = [100.0]
    pause = ClientPause(clock=lambda: now[0])
    assert not pause.holds(writes=True)
    pause.pause(110.0, WRITE)
    assert pause.holds(writes=True)
    assert not pause.holds(writes=False)
    pause.pause(105.0, ALL)  # the stricter kind, the later end
    assert (pause.kind, pause.end) == (ALL, 110.0)
    assert pause.holds(writes=False)
    pause.pause(120.0, WRITE)  # a later end; the kind stays ALL
    assert (pause.kind, pause.end) == (ALL, 120.0)
    assert pause.expiry_paused
    now[0] = 120.0  # its end: over
    assert not pause.holds(writes=True)
    assert pause.current() == OFF
    assert not pause.expiry_paused


async def test_held_clients_go_in_the_order_they_came_on_unpause(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pause = ClientPause(clock=trio.current_time)
    pause.pause(trio.current_time() + 60, WRITE)
    went: list[int] = []

    async def held(number: int) -> None:
        await pause.wait(writes=True)
        went.append(number)

    async with trio.open_nursery() as nursery:
        for number in range(5):
            nursery.start_soon(held, number)
            await trio.testing.wait_all_tasks_blocked()
        assert pause.held == 5
        await trio.sleep(30)
        assert not went  # still paused
        pause.unpause()
    assert went == [0, 1, 2, 3, 4]
    assert pause.held == 0
    assert trio.current_time() < 60  # released by UNPAUSE, not by the end


async def test_held_clients_go_when_the_pause_ends_and_a_second_pause_extends_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pause = ClientPause(clock=trio.current_time)
    start = trio.current_time()
    pause.pause(start + 10, WRITE)
    released: list[float] = []

    async def held() -> None:
        await pause.wait(writes=True)
        released.append(trio.current_time() - start)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(held)
        await trio.sleep(5)
        pause.pause(start + 20, WRITE)  # CLIENT PAUSE again: the later end
        pause.pause(start + 1, WRITE)  # an earlier end changes nothing
    assert released == [20.0]


async def test_a_read_is_not_held_by_a_write_pause(
    autojump_clock: trio.testing.MockClock,
) -> None:
    pause = ClientPause(clock=trio.current_time)
    pause.pause(trio.current_time() + 10, WRITE)
    with trio.fail_after(0.001):
        await pause.wait(writes=False)
    pause.pause(trio.current_time() + 10, ALL)
    with trio.move_on_after(5) as scope:
        await pause.wait(writes=False)
    assert scope.cancelled_caught
    assert pause.held == 0  # a client that gave up (cancelled) leaves the queue


async def test_the_dispatcher_holds_writes_and_releases_them_in_order(node: InProcess) -> None:
    admin, reader = node.client(), node.client()
    writers = [node.client() for _ in range(3)]
    assert await node.one(admin, "CLIENT PAUSE 100000 WRITE") == b"+OK\r\n"
    replies: dict[int, list[bytes]] = {}

    async def write(number: int) -> None:
        replies[number] = await node.run(writers[number], f"APPEND log {number}")

    async with trio.open_nursery() as nursery:
        for number in range(3):
            nursery.start_soon(write, number)
            await trio.testing.wait_all_tasks_blocked()
        assert all(writer.paused for writer in writers)
        assert b"flags=b" in await node.one(admin, f"CLIENT LIST ID {writers[0].id}")
        assert b"blocked_clients:3\r\n" in await node.one(admin, "INFO clients")
        # Reads go on, and so does a `no-writes` script.
        assert await node.one(reader, "GET log") == b"$-1\r\n"
        script = 'EVAL "#!lua flags=no-writes\nreturn 7" 0'
        assert await node.one(reader, script) == b":7\r\n"
        assert not replies
        assert await node.one(admin, "CLIENT UNPAUSE") == b"+OK\r\n"
    assert await node.one(reader, "GET log") == b"$3\r\n012\r\n"
    assert not any(writer.paused for writer in writers)


async def test_a_pause_stops_this_nodes_active_expiry(node: InProcess) -> None:
    paused = node.server.node.expiry.paused
    assert not paused()
    client = node.client()
    await node.one(client, "CLIENT PAUSE 100000 WRITE")
    assert paused()
    await node.one(client, "CLIENT UNPAUSE")
    assert not paused()
