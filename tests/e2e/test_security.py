"""AUTH and ACL users on a 3-node cluster of real processes: users are replicated state.

A user set through a follower authenticates on every node at once (AUTH takes a read point);
deleting it closes its connections on every node; requirepass given at start-up, and changed
by CONFIG SET through any node, is the same everywhere; nodes started with different ACL
files agree on one of them; a node joins a cluster that requires a password with
--masterauth; the `concord` tool authenticates with --pass.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.support.cluster import HOST, LocalCluster
from tests.support.workload import connect


def followers(cluster: LocalCluster) -> list[str]:
    leader = cluster.leader()
    return [name for name in cluster.names if name != leader]


def as_user(port: int, user: str, password: str) -> redis.Redis:
    client = connect(port)
    client.execute_command("AUTH", user, password)
    return client


def raw_session(port: int, user: str, password: str) -> socket.socket:
    """A plain socket authenticated as `user` (to see the server close it)."""
    sock = socket.create_connection((HOST, port), timeout=10)
    sock.sendall(
        b"*3\r\n$4\r\nAUTH\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n"
        % (len(user), user.encode(), len(password), password.encode())
    )
    assert sock.recv(64) == b"+OK\r\n"
    return sock


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """Whether the server closes `sock` within `seconds` (reading gives EOF)."""
    sock.settimeout(seconds)
    try:
        return sock.recv(64) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def concord_tool(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-c", "from concord_resp.cli import tool_main; tool_main()"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=60)


def test_users_are_replicated_state(tmp_path: Path) -> None:
    with LocalCluster(tmp_path) as cluster:
        first, second = followers(cluster)
        ports = cluster.ports
        setter = cluster.client(first)
        assert setter.execute_command("ACL SETUSER alice on >pw ~alice:* +@all") == b"OK"
        # At once, on every node (no waiting: AUTH reads the users at a read point).
        for name in cluster.names:
            client = as_user(ports[name], "alice", "pw")
            assert client.execute_command("ACL WHOAMI") == "alice"  # (redis-py decodes it)
            assert client.set(f"alice:{name}", "v")
            with pytest.raises(redis.exceptions.NoPermissionError, match="no permissions"):
                client.set("bob:1", "v")
            client.close()
        lists = {name: cluster.client(name).execute_command("ACL LIST") for name in cluster.names}
        assert len(set(map(tuple, lists.values()))) == 1, lists
        # A rule changed through one node applies on another at once.
        cluster.client(second).execute_command("ACL SETUSER alice -set")
        client = as_user(ports[first], "alice", "pw")
        with pytest.raises(redis.exceptions.NoPermissionError, match="run the 'set'"):
            client.set("alice:x", "v")
        client.close()
        # Deleting the user closes its connections on every node.
        sessions = {name: raw_session(ports[name], "alice", "pw") for name in cluster.names}
        assert cluster.client(second).execute_command("ACL DELUSER alice") == 1
        for name, sock in sessions.items():
            assert closed_within(sock, 10.0), f"alice's connection to {name} stayed open"
            sock.close()
        for name in cluster.names:
            with pytest.raises(redis.AuthenticationError):
                as_user(ports[name], "alice", "pw")


def test_requirepass_from_start_up_then_config_set(tmp_path: Path) -> None:
    with LocalCluster(tmp_path, extra_args=["--requirepass", "pw1"], password="pw1") as cluster:
        first, second = followers(cluster)
        ports = cluster.ports
        for name in cluster.names:
            anonymous = connect(ports[name])
            with pytest.raises(redis.AuthenticationError):
                anonymous.get("k")
            anonymous.close()
        assert cluster.client(first).config_set("requirepass", "pw2")
        cluster.password = "pw2"
        for name in cluster.names:
            client = connect(ports[name], password="pw2")
            assert client.config_get("requirepass") == {"requirepass": "pw2"}
            client.close()
            with pytest.raises(redis.AuthenticationError):
                connect(ports[name], password="pw1").ping()
        # A node joins through a member that requires a password.
        cluster.extra_args += ["--masterauth", "pw2"]
        cluster.join("n4", through=second)
        joined = connect(cluster.ports["n4"], password="pw2")
        deadline = time.monotonic() + 30
        while joined.config_get("requirepass") != {"requirepass": "pw2"}:
            assert time.monotonic() < deadline, "n4 never applied the cluster's users"
            time.sleep(0.1)
        joined.close()
        # The operator tool authenticates too.
        status = concord_tool("-p", str(ports[first]), "--pass", "pw2", "members")
        assert status.returncode == 0, status.stderr
        assert "n4" in status.stdout
        refused = concord_tool("-p", str(ports[first]), "members")
        assert refused.returncode == 1
        assert "NOAUTH" in refused.stderr


def test_nodes_started_with_different_acl_files_agree(tmp_path: Path) -> None:
    files = []
    for number in (1, 2, 3):
        path = tmp_path / f"users{number}.acl"
        path.write_text(f"user default on nopass ~* &* +@all\nuser only{number} on >p ~* +@all\n")
        files.append(path)
    cluster = LocalCluster(tmp_path / "cluster")
    for member, path in zip(cluster.members.values(), files, strict=True):
        member.process.args += ["--aclfile", str(path)]
    with cluster:
        cluster.leader()
        deadline = time.monotonic() + 30
        while True:
            users = {
                name: tuple(cluster.client(name).execute_command("ACL USERS"))
                for name in cluster.names
            }
            if len(set(users.values())) == 1 and len(next(iter(users.values()))) == 2:
                break
            assert time.monotonic() < deadline, users
            time.sleep(0.1)
        winner = str(next(iter(users.values()))[1])  # (redis-py decodes ACL USERS)
        losers = [f"n{n}" for n in (1, 2, 3) if f"only{n}" != winner]
        for name in losers:
            log = cluster.members[name].process.output()
            assert "differ from this node's start-up users" in log, name
        # ACL LOAD through a follower loads that node's file on every node.
        follower = followers(cluster)[0]
        assert cluster.client(follower).execute_command("ACL LOAD") is True  # (redis-py: OK)
        loaded = f"only{follower[1:]}"
        for name in cluster.names:
            assert cluster.client(name).execute_command("ACL USERS") == ["default", loaded]
