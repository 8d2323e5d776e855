"""INFO's structure against a real Redis 7.0: the same sections, in the same order, for every
way of asking; every field of Redis's, by Redis's name, in Redis's order (Concord's own
fields aside).

Values differ by nature (pids, memory, times), so only their form is checked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from compat.harness import RawClient
from concord_resp.server.info import CONCORD_FIELD_PREFIXES
from tests.support.processes import ConcordProcess, RedisProcess

Sections = list[tuple[str, list[tuple[str, str]]]]

# Fields named by their subject (a command, an error code, a database).
PER_ITEM_FIELDS = re.compile(r"^(cmdstat_|errorstat_|latency_percentiles_usec_|db\d+$|slave\d+$)")
VALUE_FORMS = {
    "cmdstat_": re.compile(
        r"^calls=\d+,usec=\d+,usec_per_call=\d+\.\d\d,rejected_calls=\d+,failed_calls=\d+$"
    ),
    "errorstat_": re.compile(r"^count=\d+$"),
    "db": re.compile(r"^keys=\d+,expires=\d+,avg_ttl=\d+$"),
    "latency_percentiles_usec_": re.compile(r"^p50=\d+\.\d{3},p99=\d+\.\d{3},p99\.9=\d+\.\d{3}$"),
}


@pytest.fixture
def clients(
    redis_server: RedisProcess, concord_server: ConcordProcess
) -> Iterator[tuple[RawClient, RawClient]]:
    redis, concord = RawClient(redis_server.port), RawClient(concord_server.port)
    for client in (redis, concord):
        # Something in every per-item section: a key with a TTL, calls, an error.
        for argv in ([b"SET", b"info-key", b"v", b"EX", b"100"], [b"NOSUCH"], [b"GET", b"x"]):
            client.call(argv)
    yield redis, concord
    for client in (redis, concord):
        client.call([b"DEL", b"info-key"])
        client.close()


CONCORD_SECTIONS = {"Raft"}


def info(client: RawClient, *sections: bytes) -> Sections:
    raw = client.call([b"INFO", *sections]).raw
    text = raw.split(b"\r\n", 1)[1][: int(raw[1 : raw.index(b"\r\n")])].decode()
    parsed: Sections = []
    for block in text.split("\r\n\r\n"):
        lines = [line for line in block.split("\r\n") if line]
        if not lines:
            continue
        assert lines[0].startswith("# "), block
        fields = [tuple(line.split(":", 1)) for line in lines[1:]]
        assert all(len(pair) == 2 for pair in fields), block
        parsed.append((lines[0][2:], fields))  # type: ignore[arg-type]
    return parsed


@pytest.mark.parametrize(
    "sections",
    [
        [],
        [b"default"],
        [b"all"],
        [b"everything"],
        [b"ALL", b"default"],
        [b"server", b"clients"],
        [b"keyspace", b"server"],
        [b"Server"],
        [b"nosuch"],
        [b"nosuch", b"cpu"],
        [b"default", b"commandstats"],
        [b"commandstats"],
        [b"errorstats"],
        [b"latencystats"],
        [b"modules", b"cluster"],
        [b"keyspace", b"keyspace"],
    ],
    ids=lambda sections: "+".join(s.decode() for s in sections) or "none",
)
def test_info_has_redis_sections_and_fields(
    clients: tuple[RawClient, RawClient], sections: list[bytes]
) -> None:
    redis, concord = clients
    theirs, ours = info(redis, *sections), info(concord, *sections)
    # Concord's own section (Raft) comes last, in `all` and `everything` only.
    if b"all" in [s.lower() for s in sections] or b"everything" in [s.lower() for s in sections]:
        assert ours[-1][0] == "Raft"
    ours = [(title, fields) for title, fields in ours if title not in CONCORD_SECTIONS]
    assert [title for title, _ in ours] == [title for title, _ in theirs]
    for (title, fields), (_, their_fields) in zip(ours, theirs, strict=True):
        names = [name for name, _ in fields if not name.startswith(CONCORD_FIELD_PREFIXES)]
        fixed = [name for name in names if not PER_ITEM_FIELDS.match(name)]
        their_names = [name for name, _ in their_fields if not PER_ITEM_FIELDS.match(name)]
        assert fixed == their_names, (title, fixed, their_names)
        for name, value in fields:
            for prefix, form in VALUE_FORMS.items():
                if name.startswith(prefix):
                    assert form.match(value), (name, value)
        # The servers are shared with other tests: only what this test did is certain.
        per_item = {name for name in names if PER_ITEM_FIELDS.match(name)}
        expected = {
            "Commandstats": {"cmdstat_set", "cmdstat_get"},
            "Errorstats": {"errorstat_ERR"},
            "Keyspace": {"db0"},
            "Latencystats": {"latency_percentiles_usec_set", "latency_percentiles_usec_get"},
        }.get(title, set())
        assert per_item >= expected, title


def test_info_values_have_redis_forms(clients: tuple[RawClient, RawClient]) -> None:
    _, concord = clients
    fields = dict(pair for _, section in info(concord, b"everything") for pair in section)
    assert fields["redis_version"] == "7.0.15"
    assert fields["redis_mode"] == "standalone"
    assert fields["role"] == "master"
    assert re.match(r"^[0-9a-f]{40}$", fields["run_id"])
    for human in ("used_memory_human", "used_memory_peak_human", "total_system_memory_human"):
        assert re.match(r"^\d+(\.\d\d[KMGTP]|B)$", fields[human]), human
    for cpu in ("used_cpu_sys", "used_cpu_user", "used_cpu_sys_main_thread"):
        assert re.match(r"^\d+\.\d{6}$", fields[cpu]), cpu
    numeric = (
        "connected_clients",
        "total_commands_processed",
        "total_error_replies",
        "hz",
        "number_of_functions",
        "number_of_libraries",
    )
    assert all(fields[name].isdigit() for name in numeric)
    assert int(fields["connected_clients"]) >= 1
    assert int(fields["total_error_replies"]) >= 1
    assert fields["db0"].startswith("keys=")
    assert ",expires=" in fields["db0"]


def test_info_in_resp3_is_a_verbatim_string(clients: tuple[RawClient, RawClient]) -> None:
    redis, concord = clients
    for client in (redis, concord):
        client.call([b"HELLO", b"3"])
    assert concord.call([b"INFO", b"nosuch"]).raw == redis.call([b"INFO", b"nosuch"]).raw
    cluster = [b"INFO", b"cluster"]
    assert (
        concord.call(cluster).raw
        == redis.call(cluster).raw
        == (b"=34\r\ntxt:# Cluster\r\ncluster_enabled:0\r\n\r\n")
    )


def test_info_raft_describes_the_node(clients: tuple[RawClient, RawClient]) -> None:
    _, concord = clients
    ((title, fields),) = info(concord, b"raft")
    values = dict(fields)
    assert title == "Raft"
    assert values["raft_role"] == "leader"  # a one-member cluster leads itself
    assert values["raft_node"] == values["raft_leader"] == values["raft_voters"]
    assert int(values["raft_term"]) >= 1
    assert int(values["raft_applied_index"]) <= int(values["raft_commit_index"])
    assert int(values["raft_commit_index"]) <= int(values["raft_last_index"])
    member = values[f"member_{values['raft_node']}"]
    assert "voter=1" in member
    assert "last_contact_ms=0" in member
