"""The simulated network: seeded delays, drops, duplicates; partitions cut at delivery."""

import random
from dataclasses import replace

from concord_resp.raft.core import Message, MessageType
from concord_resp.sim.config import DEFAULT, PROFILES
from concord_resp.sim.network import Delivery, Network, Partition, make_partition


def heartbeat(sender: str, to: str) -> Message:
    return Message(MessageType.HEARTBEAT, to=to, sender=sender, term=1)


def deliveries(network: Network, until: int) -> list[tuple[int, str, bool]]:
    out = []
    for now in range(until):
        for item in network.due(now):
            assert isinstance(item, Delivery)
            out.append((now, item.msg.to, item.copy))
    return out


def test_the_same_seed_gives_the_same_schedule() -> None:
    def schedule(seed: int) -> list[tuple[int, str, bool]]:
        network = Network(random.Random(seed), PROFILES["reorder"])
        for n in range(200):
            network.send(0, heartbeat("a", f"n{n}"), 1)
        return deliveries(network, 100)

    assert schedule(3) == schedule(3)
    assert schedule(3) != schedule(4)


def test_faults_happen_and_reliable_mode_turns_them_off() -> None:
    network = Network(random.Random(1), PROFILES["reorder"])
    for n in range(500):
        network.send(0, heartbeat("a", f"n{n}"), 1)
    got = deliveries(network, 100)
    assert network.stats["dropped"] > 0
    assert network.stats["duplicated"] > 0
    assert any(copy for _, _, copy in got)
    order = [to for _, to, copy in got if not copy]
    assert order != sorted(order, key=lambda to: int(to[1:]))  # slow messages reorder

    network = Network(random.Random(1), PROFILES["reorder"])
    network.reliable = True
    for n in range(500):
        assert network.send(0, heartbeat("a", f"n{n}"), 1)
    got = deliveries(network, 100)
    assert len(got) == 500
    assert all(1 <= at <= DEFAULT.delay[1] for at, _, _ in got)


def test_partitions_split_isolate_and_bridge() -> None:
    split = Partition("split", (("a", "b"), ("c",)))
    assert not split.blocked("a", "b")
    assert split.blocked("a", "c")
    assert split.blocked("c", "b")
    assert split.blocked("new", "c")
    assert not split.blocked("new", "a")
    bridge = Partition("bridge", (("a",), ("c",)), bridge="b")
    assert bridge.blocked("a", "c")
    assert not bridge.blocked("a", "b")
    assert not bridge.blocked("b", "c")

    rng = random.Random(5)
    nodes = ["a", "b", "c", "d", "e"]
    isolated = make_partition(rng, "isolate_leader", nodes, "c")
    assert isolated is not None
    assert isolated.sides == (("c",), ("a", "b", "d", "e"))
    assert make_partition(rng, "isolate_leader", nodes, None) is None
    for _ in range(20):
        made = make_partition(rng, "bridge", nodes, None)
        assert made is not None
        assert made.bridge in nodes
        assert sorted([*made.sides[0], *made.sides[1], made.bridge]) == nodes
        assert all(made.sides)


def test_a_lost_snapshot_is_still_reported_to_its_sender() -> None:
    network = Network(random.Random(0), replace(DEFAULT, p_drop=1.0))
    snap = Message(MessageType.SNAP, to="b", sender="a", term=1)
    assert not network.send(0, snap, 1)
    (item,) = [item for now in range(50) for item in network.due(now)]
    assert isinstance(item, Delivery)
    assert item.lost
