"""Capture COMMAND INFO and COMMAND DOCS from a real Redis 7 for the commands Concord has.

Run against a scratch redis-server (Debian package): it writes
concord_resp/commands/redis_commands.json, the data behind Concord's command table (arity,
flags, key positions, ACL categories, docs), so that COMMAND replies match Redis's exactly.

    redis-server --port 7777 --save '' &
    python scripts/dev/gen_command_specs.py --port 7777

Values are stored with their RESP3 type: a JSON string is a bulk string, {"+": s} a simple
string, {"%": [[k, v], ...]} a map, {"~": [...]} a set, a list an array, a number an integer.
"""

from __future__ import annotations

import argparse
import json
import socket
from pathlib import Path
from typing import Any

# The commands Concord serves, with the subcommands it implements.
COMMANDS: dict[str, list[str]] = {
    # connection and server
    "ping": [],
    "echo": [],
    "hello": [],
    "auth": [],
    "acl": [
        "cat",
        "deluser",
        "dryrun",
        "genpass",
        "getuser",
        "help",
        "list",
        "load",
        "log",
        "save",
        "setuser",
        "users",
        "whoami",
    ],
    "quit": [],
    "reset": [],
    "select": [],
    "swapdb": [],
    "client": [
        "id",
        "setname",
        "getname",
        "setinfo",
        "info",
        "list",
        "kill",
        "unblock",
        "no-evict",
        "no-touch",
        "pause",
        "unpause",
        "reply",
        "tracking",
        "trackinginfo",
        "getredir",
        "caching",
        "help",
    ],
    "monitor": [],
    "info": [],
    # pub/sub
    "subscribe": [],
    "unsubscribe": [],
    "psubscribe": [],
    "punsubscribe": [],
    "ssubscribe": [],
    "sunsubscribe": [],
    "publish": [],
    "spublish": [],
    "pubsub": ["channels", "numsub", "numpat", "shardchannels", "shardnumsub", "help"],
    "dbsize": [],
    "flushdb": [],
    "flushall": [],
    "time": [],
    "config": ["get", "set", "resetstat", "rewrite", "help"],
    "lastsave": [],
    "debug": [],
    "save": [],
    "bgsave": [],
    "shutdown": [],
    "command": ["count", "info", "docs", "list", "getkeys", "help"],
    # strings
    "get": [],
    "set": [],
    "setnx": [],
    "setex": [],
    "psetex": [],
    "getset": [],
    "getdel": [],
    "getex": [],
    "mget": [],
    "mset": [],
    "msetnx": [],
    "append": [],
    "strlen": [],
    "incr": [],
    "decr": [],
    "incrby": [],
    "decrby": [],
    "incrbyfloat": [],
    "getrange": [],
    "substr": [],
    "setrange": [],
    "lcs": [],
    # bitmaps
    "setbit": [],
    "getbit": [],
    "bitcount": [],
    "bitpos": [],
    "bitop": [],
    "bitfield": [],
    "bitfield_ro": [],
    # hyperloglog
    "pfadd": [],
    "pfcount": [],
    "pfmerge": [],
    "pfdebug": [],
    "pfselftest": [],
    # lists
    "lpush": [],
    "rpush": [],
    "lpushx": [],
    "rpushx": [],
    "linsert": [],
    "lpop": [],
    "rpop": [],
    "lmpop": [],
    "lmove": [],
    "rpoplpush": [],
    "llen": [],
    "lindex": [],
    "lrange": [],
    "lpos": [],
    "lset": [],
    "ltrim": [],
    "lrem": [],
    "blpop": [],
    "brpop": [],
    "blmove": [],
    "brpoplpush": [],
    "blmpop": [],
    # hashes
    "hset": [],
    "hsetnx": [],
    "hmset": [],
    "hget": [],
    "hmget": [],
    "hgetall": [],
    "hdel": [],
    "hexists": [],
    "hlen": [],
    "hstrlen": [],
    "hkeys": [],
    "hvals": [],
    "hincrby": [],
    "hincrbyfloat": [],
    "hrandfield": [],
    "hscan": [],
    # sets
    "sadd": [],
    "srem": [],
    "smembers": [],
    "sismember": [],
    "smismember": [],
    "scard": [],
    "spop": [],
    "srandmember": [],
    "smove": [],
    "sinter": [],
    "sintercard": [],
    "sunion": [],
    "sdiff": [],
    "sinterstore": [],
    "sunionstore": [],
    "sdiffstore": [],
    "sscan": [],
    # sorted sets
    "zadd": [],
    "zincrby": [],
    "zrem": [],
    "zcard": [],
    "zcount": [],
    "zlexcount": [],
    "zscore": [],
    "zmscore": [],
    "zrank": [],
    "zrevrank": [],
    "zrange": [],
    "zrangestore": [],
    "zrangebyscore": [],
    "zrevrangebyscore": [],
    "zrevrange": [],
    "zrangebylex": [],
    "zrevrangebylex": [],
    "zremrangebyrank": [],
    "zremrangebyscore": [],
    "zremrangebylex": [],
    "zpopmin": [],
    "zpopmax": [],
    "zmpop": [],
    "zrandmember": [],
    "zunion": [],
    "zinter": [],
    "zdiff": [],
    "zintercard": [],
    "zunionstore": [],
    "zinterstore": [],
    "zdiffstore": [],
    "zscan": [],
    "bzpopmin": [],
    "bzpopmax": [],
    "bzmpop": [],
    # sorting
    "sort": [],
    "sort_ro": [],
    # geo (sorted sets of geohash scores)
    "geoadd": [],
    "geopos": [],
    "geodist": [],
    "geohash": [],
    "geosearch": [],
    "geosearchstore": [],
    "georadius": [],
    "georadius_ro": [],
    "georadiusbymember": [],
    "georadiusbymember_ro": [],
    # keys
    "del": [],
    "unlink": [],
    "exists": [],
    "type": [],
    "expire": [],
    "pexpire": [],
    "expireat": [],
    "pexpireat": [],
    "ttl": [],
    "pttl": [],
    "expiretime": [],
    "pexpiretime": [],
    "persist": [],
    "rename": [],
    "renamenx": [],
    "copy": [],
    "move": [],
    "keys": [],
    "scan": [],
    "randomkey": [],
    "touch": [],
    "object": ["encoding", "refcount", "idletime", "freq", "help"],
    "memory": ["usage", "stats", "doctor", "malloc-stats", "purge", "help"],
    "slowlog": ["get", "len", "reset", "help"],
    "latency": ["latest", "history", "reset", "graph", "doctor", "histogram", "help"],
    # serialization (RDB format)
    "dump": [],
    "restore": [],
    # scripting
    "eval": [],
    "evalsha": [],
    "eval_ro": [],
    "evalsha_ro": [],
    "script": ["load", "exists", "flush", "kill", "help"],
    "fcall": [],
    "fcall_ro": [],
    "function": [
        "load",
        "delete",
        "list",
        "flush",
        "dump",
        "restore",
        "stats",
        "kill",
        "help",
    ],
    # transactions
    "multi": [],
    "exec": [],
    "discard": [],
    "watch": [],
    "unwatch": [],
    # cluster (Concord answers these: READONLY allows stale reads from the local node)
    "readonly": [],
    "readwrite": [],
    # streams
    "xadd": [],
    "xrange": [],
    "xrevrange": [],
    "xlen": [],
    "xdel": [],
    "xtrim": [],
    "xsetid": [],
    "xread": [],
    "xreadgroup": [],
    "xgroup": ["create", "createconsumer", "delconsumer", "destroy", "setid", "help"],
    "xack": [],
    "xpending": [],
    "xclaim": [],
    "xautoclaim": [],
    "xinfo": ["stream", "groups", "consumers", "help"],
}


class Resp3:
    def __init__(self, sock: socket.socket) -> None:
        self.file = sock.makefile("rb")

    def read(self) -> object:
        line = self.file.readline()[:-2]
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return {"+": rest.decode()}
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind in (b"$", b"="):
            data = self.file.read(int(rest) + 2)[:-2]
            return data.decode()
        if kind == b"_":
            return None
        if kind == b",":
            return {",": rest.decode()}
        if kind == b"#":
            return rest == b"t"
        if kind == b"*":
            return [self.read() for _ in range(int(rest))]
        if kind == b"~":
            return {"~": [self.read() for _ in range(int(rest))]}
        if kind == b"%":
            return {"%": [[self.read(), self.read()] for _ in range(int(rest))]}
        raise RuntimeError(f"unexpected reply type {line!r}")


def call(sock: socket.socket, reader: Resp3, *argv: str) -> object:
    out = b"*%d\r\n" % len(argv)
    for arg in argv:
        data = arg.encode()
        out += b"$%d\r\n%s\r\n" % (len(data), data)
    sock.sendall(out)
    return reader.read()


def keep_subcommands(info: list[object], wanted: list[str], name: str) -> list[object]:
    subs = info[9]
    assert isinstance(subs, list)
    info = list(info)
    info[9] = [s for s in subs if isinstance(s, list) and s[0].split("|")[1] in wanted]
    return info


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """A command captured before, with the subcommands captured now that it lacked added
    after its own (in their order as captured now)."""
    if not isinstance(old["info"][9], list) or not isinstance(new["info"][9], list):
        return old  # no subcommands (an empty set)
    info = list(old["info"])
    have = {sub[0] for sub in info[9]}
    info[9] = info[9] + [sub for sub in new["info"][9] if sub[0] not in have]
    docs = json.loads(json.dumps(old["docs"]))
    new_subs = dict((k, v) for k, v in _subcommand_docs(new["docs"]))
    for pair in docs["%"]:
        if pair[0] == "subcommands":
            known = {k for k, _ in pair[1]["%"]}
            pair[1]["%"] += [[k, v] for k, v in new_subs.items() if k not in known]
    return {"info": info, "docs": docs}


def _subcommand_docs(docs: dict[str, Any]) -> list[tuple[str, Any]]:
    for pair in docs["%"]:
        if pair[0] == "subcommands":
            return [(k, v) for k, v in pair[1]["%"]]
    return []


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument(
        "--out",
        default=str(
            Path(__file__).resolve().parents[2] / "concord_resp/commands/redis_commands.json"
        ),
    )
    args = parser.parse_args()
    sock = socket.create_connection(("127.0.0.1", args.port))
    reader = Resp3(sock)
    call(sock, reader, "HELLO", "3")
    version = call(sock, reader, "INFO", "server")
    out: dict[str, object] = {"redis_version": str(version).split("redis_version:")[1].split()[0]}
    commands: dict[str, object] = {}
    for name, subs in COMMANDS.items():
        (info,) = call(sock, reader, "COMMAND", "INFO", name)  # type: ignore[misc]
        docs = call(sock, reader, "COMMAND", "DOCS", name)
        assert isinstance(docs, dict)
        ((_, doc),) = docs["%"]
        if subs:
            info = keep_subcommands(info, subs, name)
            doc_pairs = doc["%"]
            for pair in doc_pairs:
                if pair[0] == "subcommands":
                    pair[1]["%"] = [p for p in pair[1]["%"] if p[0].split("|")[1] in subs]
        else:
            assert info[9] in ([], {"~": []}), name
        commands[name] = {"info": info, "docs": doc}
    # Redis lists subcommands in its own hash order, which changes between processes: keep
    # the entries already captured, so regenerating only adds what is new.
    target = Path(args.out)
    if target.exists():
        previous = json.loads(target.read_text())["commands"]
        commands = {
            name: merge(previous[name], entry) if name in previous else entry
            for name, entry in commands.items()
        }
    out["commands"] = commands
    Path(args.out).write_text(json.dumps(out, indent=1, sort_keys=False) + "\n")
    print(f"wrote {len(commands)} commands to {args.out}")
    write_acl_commands(sock, reader, Path(args.out).parents[1] / "security/redis_acl_commands.json")


def write_acl_commands(sock: socket.socket, reader: Resp3, target: Path) -> None:
    """The commands and subcommands Redis has and Concord does not serve, as COMMAND INFO
    entries (typed JSON, like redis_commands.json), for ACL rules, ACL CAT and ACL DRYRUN
    (`security.acl.Catalog`): sorted by name; a served command's other subcommands under
    its name with no entry of its own."""
    names = call(sock, reader, "COMMAND", "LIST")
    assert isinstance(names, list)
    extra: list[object] = []
    for name in sorted(str(n) for n in names if "|" not in str(n)):
        (info,) = call(sock, reader, "COMMAND", "INFO", name)  # type: ignore[misc]
        served = COMMANDS.get(name)
        subs = info[9] if isinstance(info[9], list) else []
        missing = sorted(
            (sub for sub in subs if served is None or sub[0].split("|")[1] not in served),
            key=lambda sub: sub[0],
        )
        if served is None:
            extra.append([name, {**_entry(info), "subcommands": [_entry(s) for s in missing]}])
        elif missing:
            extra.append([name, {"info": None, "subcommands": [_entry(s) for s in missing]}])
    lines = ",\n".join(json.dumps(entry) for entry in extra)
    target.write_text(f"[\n{lines}\n]\n")
    print(f"wrote {len(extra)} commands Concord does not serve to {target}")


def _entry(info: list[Any]) -> dict[str, Any]:
    """A COMMAND INFO entry without its subcommands (given apart)."""
    return {"info": [*info[:9], {"~": []}]}


if __name__ == "__main__":
    main()
