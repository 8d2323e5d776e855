"""The peer port of a real 3-node cluster started with a cluster secret, attacked from outside.

An attacker knows what is public: the cluster id (INFO prints it) and the members' names and
ports. Each attack of issue 14 is tried every way in it has (the first version's handshake,
which proved nothing, this version's without a secret, with a guessed secret, with a random
proof): a forged write, a forged TIMEOUT_NOW, a heartbeat with a huge term, a forged
`removed` notice, and a 200 MB frame. None gets a frame past the handshake. Then the same
frames sent with the secret show that they were well-formed (authentication is what stopped
them), and that even a member's wrong `removed` notice is checked against the log.

Also: the secret is never printed, the flags and the loopback rule refuse bad set-ups with a
clear error, and a node joins a cluster with a secret.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import cbor2
import pytest

from concord_resp.raft.core import Message, MessageType
from concord_resp.raft.driver.codec import encode_message
from concord_resp.state import OP_COMMAND
from tests.support.cluster import LocalCluster
from tests.support.peer_client import PeerClient, PeerRefused
from tests.support.processes import ConcordProcess, free_port

FRAME_200_MB = 200 << 20
RSS_SLACK_KB = 8 << 10  # a few MB: what a node may grow by while refusing 200 MB


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "cluster-secret"
    path.write_text(secrets.token_hex(32) + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def secured(tmp_path: Path, secret_file: Path) -> Iterator[LocalCluster]:
    with LocalCluster(
        tmp_path / "cluster",
        3,
        proxied=False,
        extra_args=["--cluster-secret-file", str(secret_file)],
    ) as cluster:
        cluster.leader()
        yield cluster


# -- the attacker ------------------------------------------------------------------------------

Way = Callable[[PeerClient], None]
WAYS: dict[str, tuple[bytes | None, Way]] = {
    "the first version's handshake": (None, PeerClient.handshake_version_1),
    "no secret": (None, PeerClient.handshake),
    "a guessed secret": (b"guess-" * 8, PeerClient.handshake),
    "a random proof": (None, lambda client: client.handshake(proof=os.urandom(32))),
}


def attack(cluster: LocalCluster, target: str, sender: str, frames: list[object]) -> list[str]:
    """Every way in without the secret, then `frames`: each connection must be refused and
    closed. Returns the refusals' texts."""
    cluster_id = cluster.raft_info(target)["raft_cluster_id"]
    port = cluster.members[target].cluster_port
    refusals = []
    for way, (secret, handshake) in WAYS.items():
        with PeerClient(port, cluster=cluster_id, sender=sender, to=target, secret=secret) as peer:
            with pytest.raises(PeerRefused) as refused:
                handshake(peer)
            refusals.append(str(refused.value))
            with contextlib.suppress(OSError):  # (it may have closed already)
                for frame in frames:
                    peer.send(frame)
            assert peer.closed_by_node(), way
    assert all(cluster_id not in text for text in refusals)  # the id is not echoed
    return refusals


def as_member(
    cluster: LocalCluster, secret: bytes, target: str, sender: str, frames: list[object]
) -> None:
    """The same frames, with the secret: what a member may send."""
    cluster_id = cluster.raft_info(target)["raft_cluster_id"]
    port = cluster.members[target].cluster_port
    with PeerClient(port, cluster=cluster_id, sender=sender, to=target, secret=secret) as peer:
        peer.handshake()
        for frame in frames:
            peer.send(frame)
        time.sleep(0.2)  # (let the node read them before we close)


def forged_write(key: bytes) -> list[object]:
    return [["fwd", [[[OP_COMMAND, 0, [b"SET", key, b"forged"], []], ["n9:forged", 1, 1]]]]]


def raft_frame(kind: MessageType, to: str, sender: str, term: int) -> list[object]:
    return [["raft", encode_message(Message(kind, to=to, sender=sender, term=term))]]


def terms(cluster: LocalCluster) -> dict[str, int]:
    return {name: int(cluster.raft_info(name)["raft_term"]) for name in cluster.live()}


def steady(cluster: LocalCluster, leader: str, term: int, seconds: float = 1.0) -> None:
    """For `seconds` (two election timeouts), the leader and every member's term stay."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert cluster.leader(timeout=5) == leader
        assert set(terms(cluster).values()) == {term}
        time.sleep(0.1)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def send_huge_frame(port: int, prefix: bytes) -> int:
    """Send `prefix`, then a header announcing 200 MB and as much of it as the node takes;
    returns the bytes it took before closing."""
    sent = 0
    chunk = b"\0" * (1 << 20)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(prefix + FRAME_200_MB.to_bytes(4, "big"))
            while sent < FRAME_200_MB:
                sock.sendall(chunk)
                sent += len(chunk)
        except OSError:  # reset or broken pipe: the node closed it
            pass
    return sent


# -- the tests -----------------------------------------------------------------------------------


def test_no_attack_gets_past_the_handshake_without_the_secret(
    secured: LocalCluster, secret_file: Path
) -> None:
    cluster = secured
    leader = cluster.leader()
    follower = next(name for name in cluster.names if name != leader)
    term = terms(cluster)[leader]
    client = cluster.client(leader)
    assert client.set("before", "attacks")

    # A forged write, to the leader as if forwarded by a follower.
    attack(cluster, leader, follower, forged_write(b"forged"))
    # A forged TIMEOUT_NOW and a heartbeat of term 1003, to a follower as if from the leader.
    attack(cluster, follower, leader, raft_frame(MessageType.TIMEOUT_NOW, follower, leader, term))
    attack(cluster, follower, leader, raft_frame(MessageType.HEARTBEAT, follower, leader, 1003))
    # A forged notice that the follower was removed.
    applied = int(cluster.raft_info(follower)["raft_applied_index"])
    refusals = attack(cluster, follower, leader, [["removed", applied + 1, term]])
    assert "peer protocol version 1: node" in refusals[0]
    assert refusals[1:] == ["authentication failed (wrong or missing cluster secret)"] * 3

    steady(cluster, leader, term)
    assert client.set("after", "attacks")
    for name in cluster.names:
        node = cluster.client(name)
        assert node.get("forged") is None
        assert node.set(f"served-by-{name}", "yes")  # the follower was not removed
        node.close()
    rows = {row[b"name"].decode(): row for row in client.execute_command("RAFT.NODES")}
    assert (rows[follower][b"voter"], rows[follower][b"reachable"]) == (1, 1)
    meta = cbor2.loads((cluster.members[follower].process.data_dir / "meta").read_bytes())
    assert "removed" not in meta
    log = cluster.members[follower].log.read_text()
    assert "refused peer link" in log
    assert "authentication failed" in log

    # A 200 MB frame, as a first frame and where the proof goes: refused on its header.
    pid = cluster.members[follower].process.pid
    before = rss_kb(pid)
    cluster_id = cluster.raft_info(follower)["raft_cluster_id"]
    hello = {
        "cluster": cluster_id,
        "from": leader,
        "to": follower,
        "version": 2,
        "nonce": b"n" * 32,
    }
    port = cluster.members[follower].cluster_port
    for prefix in (b"", len(cbor2.dumps(hello)).to_bytes(4, "big") + cbor2.dumps(hello)):
        assert send_huge_frame(port, prefix) < FRAME_200_MB
    time.sleep(0.2)
    assert rss_kb(pid) - before < RSS_SLACK_KB
    assert cluster.client(follower).set("after", "the big frame")

    # The follower was not removed for good either.
    assert cluster.members[follower].process.stop() == 0
    cluster.start(follower)
    assert cluster.client(follower).set("after", "a restart")

    # The secret is nowhere to be seen: logs, INFO, CONFIG, the command line.
    secret = secret_file.read_text().strip()
    for name, member in cluster.members.items():
        node = cluster.client(name)
        shown = [
            member.log.read_text(),
            str(node.info("everything")),
            str(node.config_get("*")),
            Path(f"/proc/{member.process.pid}/cmdline").read_bytes().decode(errors="replace"),
        ]
        node.close()
        assert all(secret not in text and secret[:16] not in text for text in shown), name


def test_with_the_secret_the_same_frames_are_a_members_and_a_wrong_removal_is_ignored(
    secured: LocalCluster, secret_file: Path
) -> None:
    cluster = secured
    secret = secret_file.read_bytes().strip()
    leader = cluster.leader()
    follower = next(name for name in cluster.names if name != leader)
    term = terms(cluster)[leader]

    as_member(cluster, secret, leader, follower, forged_write(b"by-a-member"))
    client = cluster.client(leader)
    deadline = time.monotonic() + 5
    while client.get("by-a-member") != b"forged":
        assert time.monotonic() < deadline, "the member's write was not applied"
        time.sleep(0.05)

    # Even from an authenticated member, a notice the follower's log does not show is
    # ignored, and survives no restart.
    applied = int(cluster.raft_info(follower)["raft_applied_index"])
    as_member(cluster, secret, follower, leader, [["removed", applied + 100, term]])
    member = cluster.members[follower]
    deadline = time.monotonic() + 5
    while "ignoring a notice from" not in member.log.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert cluster.client(follower).set("still", "serving")
    assert member.process.stop() == 0
    cluster.start(follower)
    assert cluster.client(follower).set("still", "serving after a restart")
    deadline = time.monotonic() + 10
    while cluster.raft_info(follower).get("raft_leader") in (None, "none"):  # (linked again)
        assert time.monotonic() < deadline
        time.sleep(0.05)

    # TIMEOUT_NOW and a huge term, from a member, do what Raft says they do.
    leader = cluster.leader()
    follower = next(name for name in cluster.names if name != leader)
    term = terms(cluster)[leader]
    as_member(
        cluster,
        secret,
        follower,
        leader,
        raft_frame(MessageType.TIMEOUT_NOW, follower, leader, term),
    )
    assert cluster.leader(timeout=10) == follower
    as_member(
        cluster, secret, leader, follower, raft_frame(MessageType.HEARTBEAT, leader, follower, 1003)
    )
    deadline = time.monotonic() + 10
    while max(terms(cluster).values()) < 1003:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_a_node_joins_a_cluster_with_the_secret(secured: LocalCluster) -> None:
    cluster = secured
    cluster.join("n4", through="n2")
    deadline = time.monotonic() + 30
    while cluster.raft_info("n4").get("raft_role") not in ("follower", "leader"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    client = cluster.client("n4")
    assert client.set("joined", "yes")
    assert cluster.client("n1").get("joined") == b"yes"
    rows = cluster.client("n1").execute_command("RAFT.NODES")
    deadline = time.monotonic() + 30
    while {row[b"name"]: row[b"voter"] for row in rows}.get(b"n4") != 1:
        assert time.monotonic() < deadline, rows
        time.sleep(0.1)
        rows = cluster.client("n1").execute_command("RAFT.NODES")


# -- set-ups refused at start ----------------------------------------------------------------


def start(tmp_path: Path, *args: str) -> tuple[int, str]:
    """Run concord-server until it exits (it must refuse to start)."""
    port = free_port()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "concord_resp",
            "--port",
            str(port),
            "--dir",
            str(tmp_path / "d"),
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return result.returncode, result.stderr


def test_bad_secret_flags_and_an_exposed_peer_port_without_a_secret_are_refused(
    tmp_path: Path, secret_file: Path
) -> None:
    port, peer = free_port(), free_port()
    alone = f"n1=127.0.0.1:{port}@{peer}"
    exposed = f"{alone},n2=192.0.2.7:6379@16379"
    short = tmp_path / "short"
    short.write_text("tiny-secret-value\n")
    cases: list[tuple[list[str], int, str]] = [
        (["--cluster-secret", "x" * 40, "--cluster-secret-file", str(secret_file)], 2, "exclude"),
        (["--cluster-secret-file", str(tmp_path / "missing")], 2, "cannot read it"),
        (["--cluster-max-frame", "1mb"], 2, "must be between 4194304 and"),
        (["--initial-cluster", alone, "--cluster-secret-file", str(short)], 1, "too short"),
        (["--initial-cluster", exposed], 1, "192.0.2.7:16379, which is not a loopback address"),
        (
            ["--join", "127.0.0.1:1", "--bind", "0.0.0.0", "--cluster-port", str(peer)],
            1,
            "without a cluster secret",
        ),
    ]
    for args, status, text in cases:
        code, stderr = start(tmp_path, "--name", "n1", *args)
        assert (code, text in stderr) == (status, True), (args, stderr)
        assert "tiny-secret-value" not in stderr


def outside_address() -> str | None:
    """This machine's address towards the network (no packet is sent), if it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
        except OSError:
            return None
        host: str = probe.getsockname()[0]
    return None if host.startswith("127.") else host


def test_without_a_secret_the_peer_port_listens_on_loopback_only(tmp_path: Path) -> None:
    port, peer = free_port(), free_port()
    members = f"n1=127.0.0.1:{port}@{peer}"
    node = ConcordProcess(
        tmp_path / "n1", "--bind", "0.0.0.0", "--initial-cluster", members, port=port
    )
    try:
        node.start()
        deadline = time.monotonic() + 10
        while "ready to accept connections" not in node.output():  # (the peer port is open)
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert "the peer port listens on 127.0.0.1 only, not on 0.0.0.0" in node.output()
        assert f"Raft peer link on 127.0.0.1:{peer}" in node.output()
        with socket.create_connection(("127.0.0.1", peer), timeout=5):
            pass
        outside = outside_address()
        if outside is not None:
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((outside, peer), timeout=5).close()
            with socket.create_connection((outside, port), timeout=5):  # clients: --bind
                pass
    finally:
        node.kill()
