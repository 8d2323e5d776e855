"""Differential testing against a real Redis: the same commands, the replies compared exactly.

A scenario is a text file in `compat/scenarios/`: one command per line, split like redis-cli
splits its input (`split_args`: double quotes with `\\xHH` escapes, single quotes), run
against a real `redis-server` and against `concord-server` over raw sockets. Raw reply bytes
are compared, so every byte of every reply and error text must match.

Lines starting with `#` are comments. Directives (one per line) change how the *next* command
is compared, or do something that is not a command:

    !sorted      the reply is an array compared as a multiset (KEYS, COMMAND LIST, ...)
    !pairs       the reply is a map or a flat array of pairs, compared as a multiset of
                 pairs (HGETALL of a hash Redis keeps in hash order)
    !unordered   every aggregate in the reply, at any depth, is compared as a multiset (FUNCTION
                 LIST: Redis lists libraries, and the functions of each, in hash order)
    !type        only the reply's type must match (values legitimately differ: TIME, INFO)
    !words       every bulk string's space-separated words are compared as a multiset, and
                 those of each `(...)` group within it (ACL LIST, GETUSER: Redis orders
                 single-command rules by hash, differently in every run)
    !names       CONFIG GET: only the parameter names are compared, as a set (values that
                 differ by design or by how the test servers are started: port, dir, ...)
    !acl-log     ACL LOG: each entry's age-seconds and client-info are compared by type only
    !norm-ids    replace `id=<n>` / client ids and ages before comparing (CLIENT LIST/INFO)
    !numbers     every integer in the reply, at any depth, compared by type alone (LATENCY
                 LATEST/HISTORY/HISTOGRAM: times, milliseconds, counts of a histogram)
    !slowlog     SLOWLOG GET: each entry's id, time, duration and client address compared by
                 type alone; its arguments and client name byte for byte
    !info-fields INFO: the sections' titles and field names, values left out; per-item fields
                 (cmdstat_, errorstat_, latency_percentiles_usec_, dbN, slaveN) as a set, as
                 Redis lists them in hash order; Concord's own fields and section left out
    !scan        the next line is `SCAN <args without cursor>` (or `SSCAN|HSCAN|ZSCAN key
                 <args without cursor>`): the full iteration is run on both servers and the
                 sets of keys (members; field/value pairs for HSCAN and ZSCAN) are compared
    !proto N [NAME]  switch client NAME (default `main`) to RESP N on both servers (sends
                 HELLO N and compares its reply with the `id` normalised)

Blocking commands need more than one client. Every command runs on the current client,
`main` unless a directive names another; a named client is connected on first use (to each
server), starts in RESP2 and is closed at the end:

    !on NAME     the next command runs on client NAME (after a comparison directive, it
                 keeps it: `!norm-ids` then `!on NAME`)
    !send NAME   the next command is sent on client NAME without reading its reply (a
                 blocking command: the reply is read later by `!reply`)
    !reply NAME  read the reply owed to client NAME on both servers and compare it (also a
                 message pushed to a subscriber: pub/sub, keyspace notifications)
    !blocked N   wait (at most 10 s) until each server reports `blocked_clients:N` in INFO
                 clients: the clients sent blocking commands are waiting, in order
    !monitor NAME  read the line owed to MONITOR client NAME on both servers and compare it
                 with its time and the client's address (`ip:port`; `lua` stays) normalised
    {id:NAME}    in a command, replaced by client NAME's id on each server (CLIENT ID,
                 asked once): CLIENT TRACKING ... REDIRECT {id:inv}

These are the only normalisations; everything else must be byte-identical.
"""

from __future__ import annotations

import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from concord_resp.resp import split_args
from concord_resp.server.info import CONCORD_FIELD_PREFIXES

SCENARIOS = Path(__file__).parent / "scenarios"
CONCORD_FIELDS = tuple(prefix.encode() for prefix in CONCORD_FIELD_PREFIXES)
PER_ITEM_FIELD = re.compile(rb"^(cmdstat_|errorstat_|latency_percentiles_usec_|db\d+$|slave\d+$)")
ACL_LOG_VARYING = frozenset({b"age-seconds", b"client-info"})


@dataclass
class Reply:
    """One reply: its raw bytes, its type byte, and its elements if it is an aggregate."""

    raw: bytes
    kind: bytes
    children: list[Reply] = field(default_factory=list)

    def sorted_form(self) -> tuple[bytes, list[bytes]]:
        return self.kind, sorted(child.raw for child in self.children)

    def pairs_form(self) -> tuple[bytes, list[bytes]]:
        raws = [child.raw for child in self.children]
        return self.kind, sorted(a + b for a, b in zip(raws[::2], raws[1::2], strict=True))

    def names_form(self) -> tuple[bytes, list[bytes]]:
        """A map's (or flat array of pairs') keys, sorted."""
        return self.kind, sorted(child.raw for child in self.children[::2])

    def words_form(self) -> bytes:
        """The reply with every bulk string's space-separated words sorted."""
        if self.children:
            head = self.raw.split(b"\r\n", 1)[0] + b"\r\n"
            return head + b"".join(child.words_form() for child in self.children)
        if self.kind != b"$" or self.raw.startswith(b"$-1"):
            return self.raw
        head, payload = self.raw.split(b"\r\n", 1)
        words = [
            b"(" + b" ".join(sorted(token[1:-1].split(b" "))) + b")"
            if token.startswith(b"(")
            else token
            for token in re.findall(rb"\([^)]*\)|[^ ]+", payload[:-2])
        ]
        return head + b"\r\n" + b" ".join(sorted(words)) + b"\r\n"

    def masked_form(self, fields: frozenset[bytes]) -> bytes:
        """The reply with the value after each of `fields` (a map's key, or a flat array's
        key) replaced by its type alone, at any depth."""
        if not self.children:
            return self.raw
        head = self.raw.split(b"\r\n", 1)[0] + b"\r\n"
        parts: list[bytes] = []
        mask_next = False
        for child in self.children:
            parts.append(child.kind if mask_next else child.masked_form(fields))
            mask_next = child.kind == b"$" and child.raw.split(b"\r\n")[1] in fields
        return head + b"".join(parts)

    def numbers_form(self) -> bytes:
        """The reply with every integer replaced by its type."""
        if self.kind == b":":
            return b":"
        if not self.children:
            return self.raw
        head = self.raw.split(b"\r\n", 1)[0] + b"\r\n"
        return head + b"".join(child.numbers_form() for child in self.children)

    def slowlog_form(self) -> bytes:
        """SLOWLOG GET's entries with their id, time, duration and client address masked."""
        if not self.children:
            return self.raw
        head = self.raw.split(b"\r\n", 1)[0] + b"\r\n"
        entries = []
        for entry in self.children:
            parts = [child.raw for child in entry.children]
            if len(parts) == 6:
                parts[0] = parts[1] = parts[2] = b":"
                parts[4] = b"$"
            entries.append(entry.raw.split(b"\r\n", 1)[0] + b"".join(parts))
        return head + b"".join(entries)

    def info_fields_form(self) -> bytes:
        """INFO's titles and field names (see `!info-fields`)."""
        text = self.raw.split(b"\r\n", 1)[1] if self.kind in (b"$", b"=") else self.raw
        out: list[bytes] = []
        per_item: list[bytes] = []
        skipping = False
        for line in text.split(b"\r\n"):
            if line.startswith(b"# "):
                out += sorted(per_item)
                per_item = []
                skipping = line == b"# Raft"
                if not skipping:
                    out.append(line)
            elif b":" in line and not skipping:
                name = line.split(b":", 1)[0]
                if name.startswith(CONCORD_FIELDS):
                    continue
                (per_item if PER_ITEM_FIELD.match(name) else out).append(name)
        out += sorted(per_item)
        return b"\n".join(out)

    def unordered_form(self) -> bytes:
        """The reply with the elements of every aggregate sorted (a map's as pairs)."""
        if not self.children:
            return self.raw
        forms = [child.unordered_form() for child in self.children]
        if self.kind in (b"%", b"|"):
            forms = [a + b for a, b in zip(forms[::2], forms[1::2], strict=True)]
        return self.raw.split(b"\r\n", 1)[0] + b"".join(sorted(forms))


class RawClient:
    """A RESP client that returns the exact bytes of each reply."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def close(self) -> None:
        self.file.close()
        self.sock.close()

    def send(self, argv: list[bytes]) -> None:
        out = [b"*%d\r\n" % len(argv)]
        for arg in argv:
            out.append(b"$%d\r\n%s\r\n" % (len(arg), arg))
        self.sock.sendall(b"".join(out))

    def call(self, argv: list[bytes]) -> Reply:
        self.send(argv)
        return self.read()

    def read(self) -> Reply:
        line = self.file.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError(f"connection closed (got {line!r})")
        kind = line[:1]
        body = line[1:-2]
        if kind in (b"+", b"-", b":", b"_", b",", b"#", b"("):
            return Reply(line, kind)
        if kind in (b"$", b"=", b"!"):
            length = int(body)
            if length < 0:
                return Reply(line, kind)
            data = self._read_exact(length + 2)
            return Reply(line + data, kind)
        if kind in (b"*", b"~", b">", b"%", b"|"):
            count = int(body)
            if count < 0:
                return Reply(line, kind)
            if kind in (b"%", b"|"):
                count *= 2
            children = [self.read() for _ in range(count)]
            return Reply(line + b"".join(c.raw for c in children), kind, children)
        raise ValueError(f"unexpected reply line {line!r}")

    def _read_exact(self, size: int) -> bytes:
        data = self.file.read(size)
        if len(data) != size:
            raise ConnectionError("connection closed in the middle of a reply")
        return data


_ID_PATTERNS = [
    (re.compile(rb"\bid=\d+"), b"id=<id>"),
    (re.compile(rb"\baddr=[0-9.:]+"), b"addr=<addr>"),
    (re.compile(rb"\bladdr=[0-9.:]+"), b"laddr=<laddr>"),
    (re.compile(rb"\bfd=\d+"), b"fd=<fd>"),
    (re.compile(rb"\bage=\d+"), b"age=<age>"),
    (re.compile(rb"\bidle=\d+"), b"idle=<idle>"),
    (re.compile(rb"\bqbuf=\d+"), b"qbuf=<n>"),
    (re.compile(rb"\bqbuf-free=\d+"), b"qbuf-free=<n>"),
    (re.compile(rb"\bargv-mem=\d+"), b"argv-mem=<n>"),
    (re.compile(rb"\bmulti-mem=\d+"), b"multi-mem=<n>"),
    (re.compile(rb"\brbs=\d+"), b"rbs=<n>"),
    (re.compile(rb"\brbp=\d+"), b"rbp=<n>"),
    (re.compile(rb"\btot-mem=\d+"), b"tot-mem=<n>"),
    (re.compile(rb"\bomem=\d+"), b"omem=<n>"),
    (re.compile(rb" lib-name=\S* lib-ver=\S*"), b""),
    (re.compile(rb"\$2\r\nid\r\n:\d+\r\n"), b"$2\r\nid\r\n:<id>\r\n"),
    (re.compile(rb"^\$\d+\r\n"), b"$<len>\r\n"),
    (re.compile(rb"^=\d+\r\n"), b"=<len>\r\n"),
    (re.compile(rb"^:\d+\r\n$"), b":<int>\r\n"),
]


_MONITOR_LINE = re.compile(rb"^\+\d+\.\d{6} \[(\d+) (\d+\.\d+\.\d+\.\d+:\d+|lua)\]")


def normalise_monitor(raw: bytes) -> bytes:
    """A MONITOR line without what differs between servers: the time, the client's port."""

    def stable(match: re.Match[bytes]) -> bytes:
        source = b"lua" if match.group(2) == b"lua" else b"<addr>"
        return b"+<time> [%s %s]" % (match.group(1), source)

    return _MONITOR_LINE.sub(stable, raw)


_ID_TOKEN = re.compile(rb"\{id:(\w+)\}")


def normalise_ids(raw: bytes) -> bytes:
    for pattern, replacement in _ID_PATTERNS:
        raw = pattern.sub(replacement, raw)
    return raw


@dataclass
class Mismatch:
    line_number: int
    command: str
    redis: bytes
    concord: bytes

    def __str__(self) -> str:
        return (
            f"line {self.line_number}: {self.command}\n"
            f"  redis:   {self.redis!r}\n  concord: {self.concord!r}"
        )


def scan_all(client: RawClient, argv: list[bytes]) -> list[bytes]:
    """Run a whole SCAN iteration (argv: SCAN, or SSCAN/HSCAN/ZSCAN and a key, then the
    options, without the cursor); return what it saw (sorted, duplicates removed): keys,
    members, or field/value pairs for HSCAN and ZSCAN."""
    keyed = argv[0].upper() != b"SCAN"
    head, options = (argv[:2], argv[2:]) if keyed else (argv[:1], argv[1:])
    pairs = argv[0].upper() in (b"HSCAN", b"ZSCAN")
    cursor = b"0"
    seen: set[bytes] = set()
    for _ in range(100_000):
        reply = client.call([*head, cursor, *options])
        if reply.kind == b"-":
            return [reply.raw]
        cursor_reply, keys_reply = reply.children
        cursor = cursor_reply.raw.split(b"\r\n")[1]
        raws = [child.raw for child in keys_reply.children]
        if pairs:
            raws = [a + b for a, b in zip(raws[::2], raws[1::2], strict=True)]
        seen.update(raws)
        if cursor == b"0":
            return sorted(seen)
    raise AssertionError("SCAN did not finish within 100000 calls")


def wait_blocked(client: RawClient, count: int, timeout: float = 10.0) -> bool:
    """Poll INFO clients until it reports `blocked_clients:<count>`; False on timeout."""
    deadline = time.monotonic() + timeout
    wanted = b"blocked_clients:%d\r\n" % count
    while time.monotonic() < deadline:
        if wanted in client.call([b"INFO", b"clients"]).raw:
            return True
        time.sleep(0.005)
    return False


def run_scenario(path: Path, redis_port: int, concord_port: int) -> list[Mismatch]:
    """Run one scenario file against both servers; return the differences."""
    clients: dict[str, tuple[RawClient, RawClient]] = {}

    def pair(name: str) -> tuple[RawClient, RawClient]:
        if name not in clients:
            clients[name] = (RawClient(redis_port), RawClient(concord_port))
        return clients[name]

    known_ids: dict[str, tuple[bytes, bytes]] = {}

    def ids(match: re.Match[bytes], side: int) -> bytes:
        """{id:NAME}: client NAME's id on one server (asked on first use)."""
        name = match.group(1).decode()
        if name not in known_ids:
            r, c = pair(name)
            known_ids[name] = (
                r.call([b"CLIENT", b"ID"]).raw[1:-2],
                c.call([b"CLIENT", b"ID"]).raw[1:-2],
            )
        return known_ids[name][side]

    redis, concord = pair("main")
    mismatches: list[Mismatch] = []
    try:
        for client in (redis, concord):
            client.call([b"FLUSHALL"])
            # (a scenario that stopped half-way must not leave notifications on)
            client.call([b"CONFIG", b"SET", b"notify-keyspace-events", b""])
        mode = ""
        target = "main"
        for number, line in enumerate(path.read_text().splitlines(), start=1):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            if text.startswith("!"):
                parts = text.split()
                if parts[0] == "!proto":
                    argv = [b"HELLO", parts[1].encode()]
                    r, c = pair(parts[2] if len(parts) > 2 else "main")
                    a = normalise_ids(r.call(argv).raw)
                    b = normalise_ids(c.call(argv).raw)
                    if a != b:
                        mismatches.append(Mismatch(number, text, a, b))
                    continue
                if parts[0] == "!reply":
                    r, c = pair(parts[1])
                    a_raw, b_raw = r.read().raw, c.read().raw
                    if a_raw != b_raw:
                        mismatches.append(Mismatch(number, text, a_raw, b_raw))
                    continue
                if parts[0] == "!monitor":
                    r, c = pair(parts[1])
                    a_raw = normalise_monitor(r.read().raw)
                    b_raw = normalise_monitor(c.read().raw)
                    if a_raw != b_raw:
                        mismatches.append(Mismatch(number, text, a_raw, b_raw))
                    continue
                if parts[0] == "!blocked":
                    count = int(parts[1])
                    for client, server in ((redis, b"redis"), (concord, b"concord")):
                        if not wait_blocked(client, count):
                            mismatches.append(
                                Mismatch(
                                    number, text, b"%d blocked" % count, server + b" timed out"
                                )
                            )
                    continue
                if parts[0] in ("!on", "!send"):
                    target = parts[1]
                if parts[0] != "!on":  # (`!on` combines with a comparison directive)
                    mode = parts[0]
                continue
            argv = split_args(text.encode())
            assert argv is not None, f"{path}:{number}: unbalanced quotes"
            a_client, b_client = pair(target)
            target = "main"
            a_argv = b_argv = argv
            if _ID_TOKEN.search(text.encode()):
                a_argv = [_ID_TOKEN.sub(lambda m: ids(m, 0), arg) for arg in argv]
                b_argv = [_ID_TOKEN.sub(lambda m: ids(m, 1), arg) for arg in argv]
            if mode == "!send":
                a_client.send(a_argv)
                b_client.send(b_argv)
                mode = ""
                continue
            if mode == "!scan":
                a_keys = scan_all(a_client, argv)
                b_keys = scan_all(b_client, argv)
                if a_keys != b_keys:
                    mismatches.append(
                        Mismatch(number, text, repr(a_keys).encode(), repr(b_keys).encode())
                    )
                mode = ""
                continue
            a_reply = a_client.call(a_argv)
            b_reply = b_client.call(b_argv)
            if mode == "!sorted":
                same = a_reply.sorted_form() == b_reply.sorted_form()
            elif mode == "!pairs":
                same = a_reply.pairs_form() == b_reply.pairs_form()
            elif mode == "!unordered":
                same = a_reply.unordered_form() == b_reply.unordered_form()
            elif mode == "!type":
                same = a_reply.kind == b_reply.kind
            elif mode == "!names":
                same = a_reply.names_form() == b_reply.names_form()
            elif mode == "!words":
                same = a_reply.words_form() == b_reply.words_form()
            elif mode == "!acl-log":
                same = a_reply.masked_form(ACL_LOG_VARYING) == b_reply.masked_form(ACL_LOG_VARYING)
            elif mode == "!numbers":
                same = a_reply.numbers_form() == b_reply.numbers_form()
            elif mode == "!slowlog":
                same = a_reply.slowlog_form() == b_reply.slowlog_form()
            elif mode == "!info-fields":
                same = a_reply.info_fields_form() == b_reply.info_fields_form()
            elif mode == "!norm-ids":
                same = normalise_ids(a_reply.raw) == normalise_ids(b_reply.raw)
            else:
                same = a_reply.raw == b_reply.raw
            if not same:
                mismatches.append(Mismatch(number, text, a_reply.raw, b_reply.raw))
            mode = ""
    finally:
        for a_client, b_client in clients.values():
            a_client.close()
            b_client.close()
    return mismatches
