"""A node's waiting client calls: writes answered when applied (or told their proposal was
lost), reads answered once the state machine reaches their read index."""

from concord_resp.checker import Value
from concord_resp.sim.frontend import Frontend
from concord_resp.sim.kv import Reply
from concord_resp.sim.workload import Request


def request(client: int, seq: int, kind: str = "set") -> Request:
    return Request(client, "n1", op=seq, attempt=1, kind=kind, key=b"k", value=b"1", seq=seq)


def frontend() -> tuple[Frontend, list[tuple[int, str, Value]]]:
    answers: list[tuple[int, str, Value]] = []
    return Frontend(lambda req, outcome, out: answers.append((req.client, outcome, out))), answers


def test_writes_are_answered_when_applied_or_told_to_retry_when_replaced() -> None:
    table, answers = frontend()
    table.proposed(5, request(1, 1))
    table.proposed(6, request(2, 1))
    table.applied(5, (1, 1), Reply(ok=True, output="OK"))
    table.applied(6, (3, 9), Reply(ok=True, output=2))  # another leader's entry at 6
    assert answers == [(1, "ok", "OK"), (2, "retry", None)]
    # A retry applied elsewhere (another index) still answers the waiting call.
    table.proposed(8, request(4, 1, "incr"))
    table.applied(7, (4, 1), Reply(ok=False, output="ERR not an integer"))
    table.applied(8, (4, 1), Reply(ok=False, output="ERR not an integer"))
    assert answers[2:] == [(4, "error", "ERR not an integer")]


def test_a_snapshot_answers_applied_writes_and_fails_lost_ones() -> None:
    table, answers = frontend()
    table.proposed(3, request(1, 1))
    table.proposed(4, request(2, 1))
    table.proposed(9, request(3, 1))
    sessions = {(1, 1): Reply(ok=True, output=3)}
    table.snapshot_installed(5, lambda client, seq: sessions.get((client, seq)))
    assert answers == [(1, "ok", 3), (2, "retry", None)]
    assert list(table.owners) == [9]


def test_reads_wait_for_their_index_to_be_applied() -> None:
    table, answers = frontend()
    table.read_requested(b"r1", request(1, 0, "get"))
    table.read_requested(b"r2", request(2, 0, "get"))
    table.read_state(7, b"r1")
    table.read_state(9, b"r2")
    table.read_state(9, b"unknown")
    table.serve_reads(8, lambda key: b"v")
    assert answers == [(1, "ok", b"v")]
    table.serve_reads(9, lambda key: None)
    assert answers[1:] == [(2, "ok", None)]
    table.clear()
    assert not table.reads
    assert not table.ready_reads
