"""ACL users, rules and checks (the pure layer). Byte-exact replies are in compat/acl_*."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from concord_resp.commands import build_table
from concord_resp.security import DENIED_CMD, DENIED_KEY, Catalog, RuleError, Users
from concord_resp.security.acl import Selector, User, changed_user, rules_of
from concord_resp.security.log import AclLog, LogEntry
from concord_resp.state import StateMachine

TABLE = StateMachine(build_table()).table  # (building the machine registers every handler)
CATALOG = Catalog(TABLE)


def user(*rules: bytes) -> User:
    return changed_user(None, b"u", list(rules), CATALOG)


def check(u: User, *argv: bytes) -> tuple[int, int] | None:
    spec = TABLE.lookup(list(argv))
    denial = u.check(CATALOG, spec, list(argv))
    return None if denial is None else (denial.reason, denial.position)


RULES = st.lists(
    st.sampled_from(
        [
            b"on",
            b"off",
            b"nopass",
            b">secret",
            b"resetpass",
            b"~k*",
            b"%R~r*",
            b"%W~w*",
            b"allkeys",
            b"resetkeys",
            b"&ch*",
            b"allchannels",
            b"resetchannels",
            b"+@all",
            b"-@all",
            b"+@read",
            b"-@write",
            b"+@hash",
            b"-@dangerous",
            b"+get",
            b"-get",
            b"+config|get",
            b"-config|set",
            b"+client",
            b"+select|0",
            b"(~s* +set)",
            b"clearselectors",
            b"reset",
        ]
    ),
    max_size=12,
)


@settings(max_examples=300, deadline=None)
@given(RULES)
def test_a_users_description_rebuilds_the_same_user(rules: list[bytes]) -> None:
    try:
        original = user(*rules)
    except RuleError:
        return  # (e.g. a pattern after allkeys: refused, tested in compat)
    again = changed_user(None, b"u", list(rules_of(original.describe(CATALOG).encode())), CATALOG)
    assert again.describe(CATALOG) == original.describe(CATALOG)
    for mine, theirs in zip(original.selectors, again.selectors, strict=True):
        assert mine.allowed == theirs.allowed
        assert _effective_firstargs(mine) == _effective_firstargs(theirs)
        assert mine.patterns == theirs.patterns
        assert (mine.allkeys, mine.allchannels, mine.channels) == (
            theirs.allkeys,
            theirs.allchannels,
            theirs.channels,
        )


def _effective_firstargs(selector: Selector) -> dict[int, list[bytes]]:
    """First arguments that matter: those of commands not allowed whole (as in Redis, one
    given for an allowed command is kept but has no effect, and is not described)."""
    return {
        bit: args for bit, args in selector.firstargs.items() if not selector.allowed >> bit & 1
    }


def test_key_permissions_follow_each_keys_flags() -> None:
    writer = user(b"on", b"%W~w*", b"+@all")
    assert check(writer, b"SET", b"w1", b"v") is None  # SET writes only
    assert check(writer, b"SET", b"w1", b"v", b"GET") == (DENIED_KEY, 1)  # ... unless GET
    assert check(writer, b"BITFIELD", b"w1", b"SET", b"u8", b"0", b"1") == (DENIED_KEY, 1)
    reader = user(b"on", b"%R~r*", b"+@all")
    assert check(reader, b"BITFIELD", b"r1", b"GET", b"u8", b"0") is None
    assert check(reader, b"COPY", b"r1", b"r2") == (DENIED_KEY, 2)
    assert check(reader, b"MGET", b"r1", b"x", b"r2", b"y") == (DENIED_KEY, 2)


def test_selectors_allow_what_any_of_them_allows() -> None:
    u = user(b"on", b"~a*", b"+get", b"(~b* +set)")
    assert check(u, b"GET", b"a1") is None
    assert check(u, b"SET", b"b1", b"v") is None
    assert check(u, b"SET", b"a1", b"v") == (DENIED_KEY, 1)  # the key refusal wins
    assert check(u, b"DEL", b"a1") == (DENIED_CMD, 0)


def test_first_arguments_and_subcommands() -> None:
    u = user(b"on", b"allkeys", b"+select|0", b"+config|get", b"+client", b"-client|kill")
    assert check(u, b"SELECT", b"0") is None
    assert check(u, b"SELECT", b"1") == (DENIED_CMD, 0)
    assert check(u, b"CONFIG", b"GET", b"x") is None
    assert check(u, b"CONFIG", b"SET", b"x", b"y") == (DENIED_CMD, 0)
    assert check(u, b"CLIENT", b"ID") is None
    assert check(u, b"CLIENT", b"KILL", b"ID", b"1") == (DENIED_CMD, 0)
    assert check(u, b"AUTH", b"x") is None  # no_auth commands need no permission


def test_a_rule_list_is_all_or_nothing() -> None:
    users = Users(CATALOG)
    users.set_user(b"u", [b"on", b">p", b"+get"])
    with pytest.raises(RuleError, match="Error in ACL SETUSER modifier 'nosuch'"):
        users.set_user(b"u", [b"+set", b"nosuch"])
    u = users.get(b"u")
    assert u is not None
    assert check(u, b"SET", b"k", b"v") == (DENIED_CMD, 0)


def test_load_closes_every_other_users_connections_and_keeps_default() -> None:
    users = Users(CATALOG)
    removed: list[list[bytes]] = []
    users.on_removed = removed.append
    default = users.default
    users.set_user(b"a", [b"on"])
    users.set_user(b"b", [b"on"])
    assert users.replace([(b"a", [b"on"]), (b"default", [b"on", b">pw"])], bootstrap=False)
    assert removed == [[b"a", b"b"]]  # as Redis's ACL LOAD: even a user defined again
    assert users.default is default
    assert users.auth_required()
    assert not users.replace([(b"x", [])], bootstrap=True)  # configured already: ignored
    assert users.names() == [b"a", b"default"]


def test_a_script_of_a_deleted_user_may_run_nothing() -> None:
    users = Users(CATALOG)
    ghost = users.script_user(b"gone")
    assert check(ghost, b"GET", b"k") == (DENIED_CMD, 0)


def test_the_log_folds_similar_entries_within_a_minute() -> None:
    log = AclLog()

    def entry(obj: bytes, ms: int) -> LogEntry:
        return LogEntry(DENIED_KEY, b"toplevel", obj, b"u", b"id=1", ms)

    log.add(entry(b"k", 0), 10)
    log.add(entry(b"other", 1000), 10)
    log.add(entry(b"k", 2000), 10)  # folded into the first, which moves to the front
    log.add(entry(b"k", 70_000), 10)  # over a minute after: a new entry
    assert [(e.object, e.count) for e in log.entries] == [(b"k", 1), (b"k", 2), (b"other", 1)]
    log.add(entry(b"z", 70_001), 2)
    assert len(log.entries) == 2
