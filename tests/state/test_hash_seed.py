"""No hash-seed order reaches the replicated state or a reply: the same entries applied in two
processes with different PYTHONHASHSEED values give the same replies, the same DEBUG DIGEST
and a byte-identical snapshot file. (Replicas are separate processes, each with its own random seed for str and bytes
hashes, so any set iteration that reached the state would make them diverge.)"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

from concord_resp.commands import build_table
from concord_resp.raft.driver.snapshot_file import write_snapshot
from concord_resp.resp import ErrorReply
from concord_resp.state import Command, Expiry, Op, Session, StateMachine, Transaction
from concord_resp.state.snapshot import snapshot_records
from concord_resp.store.digest import dataset_digest
from concord_resp.store.types import value_type

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ("0", "12345")
SECOND = 1_000_000


def workload() -> list[Op]:
    """Writes of every kind that leaves state behind, with fixed sessions and times."""
    t = 10 * SECOND
    ops: list[Op] = []
    for n in range(30):
        ops.append(
            Command(t + n, 0, [b"SET", b"key:%d" % n, b"value %d" % n], Session("s1", n + 1, 1))
        )
    ops += [
        Command(t + 100, 0, [b"SET", b"ttl", b"v", b"EX", b"100"], Session("s2", 1, 1)),
        Command(t + 101, 0, [b"SET", b"brief", b"v", b"PX", b"1"], Session("s2", 2, 1)),
        Command(t + 102, 0, [b"APPEND", b"key:3", b"+tail"], Session("s2", 3, 1)),
        Command(t + 103, 0, [b"APPEND", b"fresh", b"new"], Session("s2", 4, 1)),
        Command(t + 104, 0, [b"INCRBYFLOAT", b"float", b"1.5"], Session("s3", 1, 1)),
        Command(t + 105, 0, [b"INCRBYFLOAT", b"float", b"1.5"], Session("s3", 2, 1)),
        Command(t + 106, 0, [b"SET", b"small", b"7"], Session("s3", 3, 1)),
        Transaction(
            t + 107,
            0,
            [[b"SELECT", b"3"], [b"SET", b"in3", b"x"], [b"APPEND", b"in3", b"y"]],
            [(0, b"key:1", 2, True)],  # key:n was set by entry n + 1: not aborted
            Session("s4", 1, 1),
        ),
        Command(t + 108, 0, [b"SWAPDB", b"0", b"5"], Session("s4", 2, 1)),
        Command(t + 109, 5, [b"RENAME", b"key:4", b"renamed"], Session("s4", 3, 1)),
        Command(t + 110, 5, [b"COPY", b"small", b"copied", b"DB", b"2"], Session("s5", 1, 1)),
        Command(t + 111, 5, [b"COPY", b"key:3", b"copied-raw"], Session("s5", 2, 1)),
        Command(t + 112, 5, [b"DEL", b"key:5", b"key:6", b"missing"], Session("s5", 3, 1)),
        Command(t + 113, 5, [b"SETRANGE", b"key:7", b"20", b"patched"], Session("s5", 4, 2)),
        Command(t + 114, 5, [b"DEL", b"key:5", b"key:6", b"missing"], Session("s5", 3, 2)),  # retry
        Expiry(t + 2 * SECOND, 5, [b"brief", b"ttl"]),
    ]
    # Lists, and clients blocked on them (waiters are replicated state), some served.
    ops += [
        Command(
            t + 200, 0, [b"RPUSH", b"list", *[b"e%d" % n for n in range(20)]], Session("l", 1, 1)
        ),
        Command(t + 201, 0, [b"LREM", b"list", b"0", b"e3"], Session("l", 2, 1)),
        Command(t + 202, 0, [b"LINSERT", b"list", b"AFTER", b"e5", b"x"], Session("l", 3, 1)),
        Command(t + 203, 0, [b"BLPOP", b"q1", b"q2", b"0"], Session("w1", 1, 1)),
        Command(t + 204, 0, [b"BRPOP", b"q2", b"30"], Session("w2", 1, 1)),
        Command(
            t + 205, 0, [b"BLMOVE", b"q3", b"list", b"LEFT", b"RIGHT", b"0"], Session("w3", 1, 1)
        ),
        Command(t + 206, 0, [b"BLPOP", b"q4", b"0"], Session("w4", 1, 1)),
        Command(t + 207, 0, [b"RPUSH", b"q2", b"a"], Session("l", 4, 1)),
        Command(t + 208, 0, [b"LPUSH", b"q3", b"m"], Session("l", 5, 1)),
    ]
    # Hashes, sets and sorted sets past their small encodings (hash order would show here),
    # their algebra, random draws and scans, HyperLogLogs and bitmaps.
    members = [b"member:%d" % n for n in range(700)]
    pairs = [item for n, m in enumerate(members) for item in (m, b"%d" % n)]
    seq = iter(range(1, 1000))

    def write(*argv: bytes) -> Command:
        return Command(t + 300 + len(ops), 0, list(argv), Session("c", next(seq), 1))

    ops += [
        write(b"HSET", b"hash", *pairs),
        write(b"SADD", b"set", *members),
        write(b"SADD", b"set2", *members[::3], b"extra"),
        write(b"SADD", b"ints", *[b"%d" % n for n in range(0, 900, 7)]),
        write(b"ZADD", b"zset", *[x for n, m in enumerate(members) for x in (b"%d" % (n % 50), m)]),
        write(b"HDEL", b"hash", *members[::5]),
        write(b"SREM", b"set", *members[1::4]),
        write(b"SPOP", b"set", b"25"),
        write(b"SPOP", b"set2"),
        write(b"HRANDFIELD", b"hash", b"-5", b"WITHVALUES"),
        write(b"SRANDMEMBER", b"set", b"7"),
        write(b"ZRANDMEMBER", b"zset", b"6", b"WITHSCORES"),
        write(b"SINTERSTORE", b"inter", b"set", b"set2"),
        write(b"SUNIONSTORE", b"union", b"set2", b"ints"),
        write(b"SDIFF", b"set", b"set2"),
        write(b"SUNION", b"set2", b"inter"),
        write(b"ZUNIONSTORE", b"zu", b"2", b"zset", b"set2", b"WEIGHTS", b"2", b"1"),
        write(b"ZINTER", b"2", b"zset", b"set", b"WITHSCORES"),
        write(b"HGETALL", b"hash"),
        write(b"SMEMBERS", b"set"),
        write(b"HSCAN", b"hash", b"0", b"COUNT", b"50"),
        write(b"SSCAN", b"set", b"0", b"COUNT", b"50"),
        write(b"ZSCAN", b"zset", b"0", b"COUNT", b"50"),
        write(b"PFADD", b"hll", *members[:300]),
        write(b"PFADD", b"hll2", *members[200:]),
        write(b"PFMERGE", b"hll3", b"hll", b"hll2"),
        write(b"SETBIT", b"bits", b"1000", b"1"),
        write(b"BITOP", b"OR", b"bits2", b"bits", b"hll"),
        # Scripts: Lua tables iterated (string keys: Lua's own hashing), random picks, the
        # script cache (a section), library output.
        write(
            b"EVAL",
            b"local t = {} for i, m in ipairs(redis.call('smembers', KEYS[1])) do t[m] = i end"
            b" local out = {} for k, v in pairs(t) do out[#out + 1] = k end"
            b" redis.call('rpush', KEYS[2], unpack(out))"
            b" redis.call('set', KEYS[3], cjson.encode(t) .. math.random())"
            b" return out",
            b"3",
            b"set",
            b"lua:list",
            b"lua:json",
        ),
        write(b"SCRIPT", b"LOAD", b"return redis.call('hgetall', KEYS[1])"),
    ]
    # Streams: entries over several macro nodes, groups and consumers (by name, in rax
    # order), PELs, and clients blocked in XREAD / XREADGROUP (waiters), some served.
    ops += [
        write(b"XADD", b"stream", b"*", b"f", m, b"n", b"%d" % n)
        for n, m in enumerate(members[:250])
    ]
    ops += [write(b"XGROUP", b"CREATE", b"stream", name, b"0") for name in (b"gz", b"ga", b"gm")]
    ops += [
        write(b"XREADGROUP", b"GROUP", b"ga", name, b"COUNT", b"7", b"STREAMS", b"stream", b">")
        for name in (b"c9", b"c1", b"c5", b"c3")
    ]
    ops += [
        write(b"XDEL", b"stream", b"12000-5", b"12000-150"),
        write(b"XACK", b"stream", b"ga", b"12000-1", b"12000-2"),
        write(b"XCLAIM", b"stream", b"ga", b"c0", b"0", b"12000-3", b"12000-4"),
        write(b"XAUTOCLAIM", b"stream", b"ga", b"c2", b"0", b"0", b"COUNT", b"3"),
        write(b"XTRIM", b"stream", b"MAXLEN", b"~", b"120"),
        write(b"XINFO", b"STREAM", b"stream", b"FULL"),
        write(b"XINFO", b"GROUPS", b"stream"),
        write(b"XREAD", b"BLOCK", b"0", b"STREAMS", b"wait1", b"$"),
        write(b"XREADGROUP", b"GROUP", b"ga", b"cw", b"BLOCK", b"0", b"STREAMS", b"stream", b">"),
        write(b"XADD", b"wait1", b"*", b"x", b"1"),
        write(b"XREAD", b"BLOCK", b"0", b"STREAMS", b"wait2", b"stream", b"$", b"$"),
        write(b"XGROUP", b"CREATE", b"wait3", b"g", b"$", b"MKSTREAM"),
        write(b"XREADGROUP", b"GROUP", b"g", b"c", b"BLOCK", b"0", b"STREAMS", b"wait3", b">"),
    ]
    # Function libraries (a section), loaded out of name order, and calls.
    code = b"#!lua name=%s\nredis.register_function('%s_f', function(k, a) return #a end)"
    ops += [
        write(b"FUNCTION", b"LOAD", code % (name, name)) for name in (b"zeta", b"alpha", b"mid")
    ]
    ops += [
        write(b"FCALL", b"alpha_f", b"0", b"x", b"y"),
        write(b"FUNCTION", b"LIST"),
        write(b"FUNCTION", b"DUMP"),
    ]
    return ops


def run_workload(directory: str) -> None:
    """Run in a child process: apply the entries, write a snapshot file into `directory`,
    print the dataset digest and this process's hash of a probe string."""
    machine = StateMachine(build_table())
    index = 0
    replies = hashlib.sha1()
    for op in workload():
        index += 1
        applied = machine.apply(index, op)
        replies.update(repr((applied.reply, applied.completions)).encode())
    changes: list[tuple[str, str | None]] = [
        ("n4", "127.0.0.1:7004@17004"),
        ("n5", "127.0.0.1:7005@17005"),
        ("n6", "127.0.0.1:7006@17006"),
        ("n2", None),
        ("n7", None),
        ("n5", None),
        ("n3", None),
        ("n7", "127.0.0.1:7007@17007"),  # back after its removal
        ("n8", None),
    ]
    for name, address in changes:
        index += 1
        machine.apply_member_change(index, name, address)
    voters, learners = ["n1", "n4", "n6"], ["n7"]
    write_snapshot(Path(directory), index, 2, voters, learners, snapshot_records(machine))
    print(dataset_digest(machine.keyspace).hex(), hash("probe"), replies.hexdigest())


def run_with_seed(seed: str, directory: Path) -> tuple[str, str, str, bytes]:
    directory.mkdir()
    code = f"from tests.state.test_hash_seed import run_workload; run_workload({str(directory)!r})"
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONHASHSEED": seed},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    digest, probe, replies = result.stdout.split()
    (snapshot,) = directory.iterdir()
    return digest, probe, replies, snapshot.read_bytes()


def test_different_hash_seeds_give_the_same_digest_and_snapshot(tmp_path: Path) -> None:
    runs = [run_with_seed(seed, tmp_path / f"seed-{seed}") for seed in SEEDS]
    (digest, probe, replies, snapshot), (other_digest, other_probe, other_replies, other) = runs
    assert probe != other_probe  # the seeds really differ
    assert digest != bytes(20).hex()  # the workload left data behind
    assert digest == other_digest
    assert replies == other_replies
    assert snapshot == other


def test_the_workload_runs_and_leaves_every_kind_of_state() -> None:
    machine = StateMachine(build_table())
    for index, op in enumerate(workload(), start=1):
        reply = machine.apply(index, op).reply
        replies = reply if isinstance(reply, list) else [reply]
        assert replies, reply
        assert not any(isinstance(r, ErrorReply) for r in replies), reply
    dbs = machine.keyspace.dbs
    assert type(dbs[5].data[b"key:3"]) is bytearray  # swapped into 5 by SWAPDB
    assert dbs[2].encoding_override(b"copied") == (b"int", 1)
    assert dbs[5].encoding_override(b"float") == (b"embstr", 1)
    assert b"brief" not in dbs[5].data
    assert b"ttl" in dbs[5].data
    assert dbs[3].data[b"in3"] == b"xy"
    assert b"key:5" in dbs[5].tombstones
    assert dataset_digest(machine.keyspace) != bytes(20)
    assert list(machine.scripting.functions.libraries) == [b"alpha", b"mid", b"zeta"]
    waiters = list(machine.blocked.waiters)
    assert waiters[:2] == [("w2", 1), ("w4", 1)]  # w1, w3 were served
    assert [machine.blocked.waiters[w].argv[0] for w in waiters[2:]] == [b"XREAD", b"XREADGROUP"]
    stream = dbs[0].data[b"stream"]
    assert list(stream.groups) == [b"ga", b"gm", b"gz"]
    assert len(stream.nodes) > 1
    assert stream.groups[b"ga"].pel
    assert list(dbs[0].data[b"list"])[-1] == b"m"
    for key, encoding in ((b"hash", b"hashtable"), (b"set", b"hashtable"), (b"zset", b"skiplist")):
        value = dbs[0].data[key]
        assert value_type(value).encoding(value)[0] == encoding, key
