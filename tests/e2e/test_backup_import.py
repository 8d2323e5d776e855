"""`concord backup`, `concord restore` and `concord import-rdb` as a user runs them: the tool
as a process, against real concord-server clusters and RDB files a real redis-server wrote."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

from tests.support.cluster import LocalCluster
from tests.support.processes import ConcordProcess, RedisProcess

Factory = Callable[..., ConcordProcess]

LIBRARY = """#!lua name=backuplib
redis.register_function('echo_first', function(keys, args) return args[1] end)
"""


def concord(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from concord_resp.cli import tool_main; tool_main()", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def fill_every_type(client: redis.Redis, rounds: int) -> None:
    """Keys of every type and encoding (small and large collections, integers, long and
    compressible strings, streams with consumer groups), some expiring, in databases 0 and
    2, and a function library."""
    pipe = client.pipeline(transaction=False)
    for i in range(rounds):
        pipe.set(f"str:{i}", f"value-{i}")
        pipe.set(f"int:{i}", i * 7919)
        pipe.rpush(f"list:{i}", *[f"e{j}" for j in range(i % 7 + 1)])
        pipe.sadd(f"intset:{i}", *range(i % 5 + 1))
        pipe.sadd(f"set:{i}", *[f"m{j}" for j in range(i % 6 + 1)])
        pipe.zadd(f"zset:{i}", {f"z{j}": j * 1.5 for j in range(i % 8 + 1)})
        pipe.hset(f"hash:{i}", mapping={f"f{j}": f"v{j}" for j in range(i % 9 + 1)})
        if i % 10 == 0:
            pipe.set(f"ttl:{i}", "expiring", ex=3600 + i)
            pipe.xadd(f"stream:{i}", {"field": f"v{i}", "n": i}, id=f"{i + 1}-1")
            pipe.xadd(f"stream:{i}", {"field": "second"}, id=f"{i + 1}-2")
        if i % 200 == 0:
            pipe.execute()
    pipe.set("long:compressible", "x" * 20000)
    pipe.set("long:binary", bytes(range(256)) * 40)
    pipe.rpush("list:big", *[f"element-{j}" for j in range(3000)])
    pipe.sadd("set:big", *[f"member-{j}" for j in range(2000)])
    pipe.sadd("intset:big", *range(1000))
    pipe.zadd("zset:big", {f"member-{j}": j / 3 for j in range(1000)})
    pipe.hset("hash:big", mapping={f"field-{j}": "v" * (j % 100) for j in range(1000)})
    pipe.hset("hash:longvalue", "f", "v" * 200)
    pipe.expire("hash:big", 7200)
    pipe.execute()
    client.xgroup_create("stream:0", "group", id="0")
    client.xreadgroup("group", "alice", {"stream:0": ">"}, count=1)
    client.function_load(LIBRARY)
    other = client.pipeline(transaction=False)
    other.execute_command("SELECT", 2)
    for i in range(50):
        other.set(f"db2:{i}", i)
    other.execute_command("SELECT", 0)
    other.execute()


def total_keys(client: redis.Redis) -> int:
    total = 0
    for db in (0, 2):
        client.execute_command("SELECT", db)
        total += client.dbsize()
    client.execute_command("SELECT", 0)
    return total


def keys_of(client: redis.Redis, db: int) -> list[bytes]:
    client.execute_command("SELECT", db)
    return sorted(client.scan_iter(count=1000))


# -- import-rdb -------------------------------------------------------------------------------


@pytest.fixture
def source_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    server = RedisProcess(tmp_path / "redis", "--enable-debug-command", "yes").start()
    yield server
    server.stop()


def test_import_rdb_written_by_redis_server(
    source_redis: RedisProcess, concord_factory: Factory, tmp_path: Path
) -> None:
    source = redis.Redis(port=source_redis.port, socket_timeout=30)
    fill_every_type(source, 1000)
    assert source.save()
    rdb = tmp_path / "redis" / "dump.rdb"
    target_server = concord_factory()

    result = concord("import-rdb", str(rdb), "-p", str(target_server.port))
    assert result.returncode == 0, result.stderr
    assert f"imported {total_keys(source)} keys" in result.stdout

    target = redis.Redis(port=target_server.port, socket_timeout=30)
    scratch = source.pipeline(transaction=False)
    for db in (0, 2):
        names = keys_of(source, db)
        assert keys_of(target, db) == names
        target.execute_command("SELECT", db)
        for name in names:
            # Concord's DUMP of the key, restored into Redis with Concord's expiry, holds the
            # same value (a digest depends on neither encoding nor order in a table).
            expiry = target.pexpiretime(name)
            scratch.execute_command("SELECT", 9)
            scratch.restore(name, max(expiry, 0), target.dump(name), replace=True, absttl=True)
            scratch.execute_command("DEBUG", "DIGEST-VALUE", name)
            scratch.execute_command("SELECT", db)
            scratch.execute_command("DEBUG", "DIGEST-VALUE", name)
            scratch.pexpiretime(name)
            replies = scratch.execute()
            assert replies[2] == replies[4], name
            assert expiry == replies[5], name
    assert target.function_dump() == source.function_dump()
    assert target.execute_command("SELECT", 0)
    assert target.fcall("echo_first", 0, "hi") == b"hi"


def test_import_rdb_refuses_a_damaged_file_and_sends_nothing(
    source_redis: RedisProcess, concord_factory: Factory, tmp_path: Path
) -> None:
    source = redis.Redis(port=source_redis.port, socket_timeout=30)
    source.set("a", "b" * 100)
    source.rpush("l", "x", "y")
    assert source.save()
    data = bytearray((tmp_path / "redis" / "dump.rdb").read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged = tmp_path / "damaged.rdb"
    damaged.write_bytes(bytes(data))
    target_server = concord_factory()

    result = concord("import-rdb", str(damaged), "-p", str(target_server.port))
    assert result.returncode == 1
    assert "damaged" in result.stderr or "at byte" in result.stderr, result.stderr
    assert redis.Redis(port=target_server.port).dbsize() == 0

    not_rdb = tmp_path / "not.rdb"
    not_rdb.write_bytes(b"hello world")
    result = concord("import-rdb", str(not_rdb), "-p", str(target_server.port))
    assert result.returncode == 1
    assert "not an RDB file" in result.stderr


# -- backup and restore -----------------------------------------------------------------------


def test_backup_of_a_cluster_restored_into_a_fresh_cluster(tmp_path: Path) -> None:
    with LocalCluster(tmp_path / "source", 3, proxied=False) as source:
        leader = source.leader()
        client = source.client(leader)
        fill_every_type(client, 2000)
        client.execute_command("ACL", "SETUSER", "app", "on", ">app-secret", "~app:*", "+get")
        users = client.execute_command("ACL", "LIST")
        digest = client.execute_command("DEBUG", "DIGEST")
        follower = next(name for name in source.names if name != leader)
        port = str(source.members[follower].port)
        backup_dir = tmp_path / "backup"

        result = concord("backup", str(backup_dir), "-p", port)
        assert result.returncode == 0, result.stderr
        manifest = json.loads((backup_dir / "backup.json").read_text())
        assert manifest["keys"] == total_keys(client)
        assert (backup_dir / manifest["file"]).stat().st_size == manifest["size"]
        # A second backup into the same directory is refused (nothing is overwritten).
        again = concord("backup", str(backup_dir), "-p", port)
        assert again.returncode == 1
        assert "already holds a backup" in again.stderr
        source_functions = client.function_dump()

    with LocalCluster(tmp_path / "target", 3, proxied=False) as target:
        name = target.leader()
        result = concord("restore", str(backup_dir), "-p", str(target.members[name].port))
        assert result.returncode == 0, result.stderr
        assert f"restored {manifest['keys']} keys" in result.stdout
        for member in target.names:  # every replica has the same data
            restored = target.client(member)
            assert restored.execute_command("DEBUG", "DIGEST") == digest, member
        assert target.client(name).function_dump() == source_functions
        assert target.client(name).execute_command("ACL", "LIST") == users


def test_restore_refuses_a_cluster_with_keys_and_a_damaged_backup(
    tmp_path: Path, concord_server: ConcordProcess
) -> None:
    client = redis.Redis(port=concord_server.port)
    client.set("backup:kept", "v")
    backup_dir = tmp_path / "backup"
    result = concord("backup", str(backup_dir), "-p", str(concord_server.port))
    assert result.returncode == 0, result.stderr
    port = str(concord_server.port)
    refused = concord("restore", str(backup_dir), "-p", port)
    assert refused.returncode == 1
    assert "already has keys" in refused.stderr
    client.set("backup:kept", "changed")
    forced = concord("restore", str(backup_dir), "-p", port, "--force")
    assert forced.returncode == 0, forced.stderr
    assert client.get("backup:kept") == b"v"
    manifest = json.loads((backup_dir / "backup.json").read_text())
    snapshot = backup_dir / manifest["file"]
    data = bytearray(snapshot.read_bytes())
    data[-5] ^= 0x01
    snapshot.write_bytes(bytes(data))
    result = concord("restore", str(backup_dir), "-p", port, "--force")
    assert result.returncode == 1
    assert "damaged" in result.stderr
    missing = concord("restore", str(tmp_path / "nothing"), "-p", str(concord_server.port))
    assert missing.returncode == 1
    assert "no backup there" in missing.stderr
    (tmp_path / "a-file").write_text("")
    into_a_file = concord("backup", str(tmp_path / "a-file"), "-p", port)
    assert into_a_file.returncode == 1
    assert "File exists" in into_a_file.stderr


def test_backup_is_an_admin_command(tmp_path: Path, concord_factory: Factory) -> None:
    server = concord_factory("--requirepass", "secret")
    port = str(server.port)
    refused = concord("backup", str(tmp_path / "a"), "-p", port)
    assert refused.returncode == 1
    assert "NOAUTH" in refused.stderr
    admin = redis.Redis(port=server.port, password="secret")
    admin.execute_command("ACL", "SETUSER", "reader", "on", ">pw", "~*", "+@read")
    limited = concord("backup", str(tmp_path / "b"), "-p", port, "--user", "reader", "--pass", "pw")
    assert limited.returncode == 1
    assert "NOPERM" in limited.stderr
    allowed = concord("backup", str(tmp_path / "c"), "-p", port, "--pass", "secret")
    assert allowed.returncode == 0, allowed.stderr
    # Chunks are read by name only from the node's own snapshots.
    with pytest.raises(redis.ResponseError, match="not a snapshot name"):
        admin.execute_command("RAFT.BACKUP", "READ", "../meta", "0", "10")
