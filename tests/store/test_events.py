"""Keyspace notification classes (Redis's letters and flags) and the messages an entry
publishes: collected in order by the keyspace, handed on in `Applied.messages`."""

from __future__ import annotations

import pytest

from concord_resp.commands import build_table
from concord_resp.state import Command, Configure, Expiry, StateMachine
from concord_resp.store.events import (
    NOTIFY_ALL,
    NOTIFY_GENERIC,
    NOTIFY_KEY_MISS,
    NOTIFY_KEYEVENT,
    NOTIFY_KEYSPACE,
    NOTIFY_NEW,
    Events,
    format_classes,
    parse_classes,
)

TABLE = build_table()
T = 1_000_000_000


@pytest.mark.parametrize(
    ("text", "written_back"),
    [
        (b"", b""),
        (b"KEA", b"AKE"),
        (b"Ag$lshzxetd", b"A"),
        (b"g$lshzxetd", b"A"),  # every type class is A
        (b"Kx", b"xK"),
        (b"Em", b"Em"),
        (b"KEAmn", b"AKEm"),  # n is not part of A, and Redis writes A alone then
        (b"Egn", b"gnE"),
        (b"zz$", b"$z"),
    ],
)
def test_classes_are_written_back_as_redis_does(text: bytes, written_back: bytes) -> None:
    flags = parse_classes(text)
    assert flags is not None
    assert format_classes(flags) == written_back


def test_unknown_class_letters_are_refused() -> None:
    assert parse_classes(b"KEq") is None
    assert parse_classes(b"K E") is None
    assert parse_classes(b"KEA") == NOTIFY_ALL | NOTIFY_KEYSPACE | NOTIFY_KEYEVENT
    assert parse_classes(b"A") == NOTIFY_ALL
    assert not NOTIFY_ALL & (NOTIFY_KEY_MISS | NOTIFY_NEW)


def test_notify_publishes_to_the_keyspace_and_keyevent_channels_it_is_asked_for() -> None:
    events = Events()
    events.notify(NOTIFY_GENERIC, b"del", b"k", 3)
    assert events.take() == ()  # every class off
    events.flags = NOTIFY_GENERIC | NOTIFY_KEYSPACE
    events.notify(NOTIFY_GENERIC, b"del", b"k", 3)
    events.flags = NOTIFY_GENERIC | NOTIFY_KEYSPACE | NOTIFY_KEYEVENT
    events.notify(NOTIFY_GENERIC, b"expire", b"k", 0)
    assert events.take() == [
        (b"__keyspace@3__:k", b"del", False, None),
        (b"__keyspace@0__:k", b"expire", False, None),
        (b"__keyevent@0__:expire", b"k", False, None),
    ]
    assert events.take() == ()


def test_an_entry_hands_on_what_it_published_and_the_setting_is_replicated_state() -> None:
    machine = StateMachine(TABLE)
    applied = machine.apply(1, Command(T, 0, [b"SET", b"a", b"1"]))
    assert applied.messages == ()  # notifications off: nothing, at no cost
    flags = parse_classes(b"KEnx")
    machine.apply(2, Configure(T, 0, [("notify_keyspace_events", flags)]))
    applied = machine.apply(3, Command(T, 0, [b"SET", b"b", b"1", b"PX", b"10"]))
    assert (b"__keyevent@0__:new", b"b", False, None) in applied.messages
    assert machine.apply(4, Command(T, 0, [b"SET", b"a", b"2"])).messages == ()  # not new
    applied = machine.apply(5, Expiry(T + 20_000, 0, [b"b"]))
    assert applied.messages == [
        (b"__keyspace@0__:b", b"expired", False, None),
        (b"__keyevent@0__:expired", b"b", False, None),
    ]
