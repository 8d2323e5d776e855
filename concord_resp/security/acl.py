"""ACL users and their rules, with Redis 7.0's semantics and texts (pure: no I/O, no clock).

A `User` has flags (on/off, nopass, sanitize-payload), SHA-256 password hashes, and selectors:
the root one (the rules given outside parentheses) and any number of `(...)` selectors added
in 7.0. A command is allowed if any selector allows it: the command (its bit, or an allowed
first argument), every key it names (read and/or write permission per the key's spec flags)
and every channel.

Commands are bits of a Python int, numbered once per command table by a `Catalog` (which also
holds each category's bits); one extra bit past the last command is "future commands", set
only by `+@all`, which is how `ACL LIST` knows whether to describe from `+@all` or `-@all`.
Describing a selector's commands follows Redis's greedy choice of categories, then single
commands in table order (Redis's own order there follows its hash table, and so differs
between runs of one Redis; ours is fixed).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from ..commands import CommandSpec, CommandTable
from ..commands.glob import glob_match
from ..commands.keyspecs import key_references, parse_key_specs
from ..commands.spec import from_typed_json
from ..resp import split_args

CATEGORIES: Final = (
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
)

# Why a command is refused (Redis's ACL_DENIED_*; a larger one wins when selectors differ).
OK: Final = 0
DENIED_CMD: Final = 1
DENIED_KEY: Final = 2
DENIED_AUTH: Final = 3  # (ACL LOG only)
DENIED_CHANNEL: Final = 4

# The commands whose arguments ACL checks as channels (Redis's commands_with_channels, the
# publishing and subscribing ones): first argument, how many (-1: the rest), patterns?
CHANNEL_ARGUMENTS: Final = {
    "subscribe": (1, -1, False),
    "ssubscribe": (1, -1, False),
    "psubscribe": (1, -1, True),
    "publish": (1, 1, False),
    "spublish": (1, 1, False),
}

READ: Final = 1
WRITE: Final = 2
READ_WRITE: Final = READ | WRITE
_WRITE_FLAGS: Final = frozenset({b"insert", b"delete", b"update"})

HASH_LENGTH: Final = 64
_HEX: Final = frozenset(b"0123456789abcdef")


class RuleError(Exception):
    """An ACL rule that cannot be applied; `reason` is Redis's text for it."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.op: bytes | None = None  # the rule at fault, where the caller needs it

    @property
    def unknown_name(self) -> bool:
        """An unknown command or category (Redis's ENOENT), which files report in full."""
        return self.reason == UNKNOWN_NAME


UNKNOWN_NAME: Final = "Unknown command or category name in ACL"
SYNTAX: Final = "Syntax error"
KEY_AFTER_ALL: Final = (
    "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not"
    " have any effect. Try 'resetkeys' to start with an empty list of patterns"
)
CHANNEL_AFTER_ALL: Final = (
    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does"
    " not have any effect. Try 'resetchannels' to start with an empty list of channels"
)
NO_SUCH_PASSWORD: Final = "The password you are trying to remove from the user does not exist"
BAD_HASH: Final = (
    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal"
    " characters"
)
FIRST_ARG_OF_SUBCOMMAND: Final = "Allowing first-arg of a subcommand is not supported"


def hash_password(password: bytes) -> str:
    """A password as Redis stores it: SHA-256, lowercase hex."""
    return hashlib.sha256(password).hexdigest()


def _valid_hash(text: bytes) -> bool:
    return len(text) == HASH_LENGTH and all(c in _HEX for c in text)


def _password_hash(op: bytes, *, clear: bytes) -> str:
    """The hash a password rule names: `>pass`/`<pass` (clear text) or `#hash`/`!hash`."""
    if op[:1] == clear:
        return hash_password(op[1:])
    if not _valid_hash(op[1:]):
        raise RuleError(BAD_HASH)
    return op[1:].decode()


def has_spaces(text: bytes) -> bool:
    """Redis's `ACLStringHasSpaces`: whitespace or NUL (refused in names and patterns)."""
    return any(c in b" \t\n\v\f\r\x00" for c in text)


def _names(value: object) -> list[str]:
    assert isinstance(value, dict)
    return [item["+"] if isinstance(item, dict) else item for item in value.get("~", [])]


def _spec(info: list[Any], subcommands: list[CommandSpec] = ()) -> CommandSpec:  # type: ignore[assignment]
    """A Redis command Concord does not serve, from its COMMAND INFO entry: known to ACL rules,
    ACL CAT and ACL DRYRUN (its key specs too), never run."""
    name, arity, flags, first, last, step, acl = info[:7]
    spec = CommandSpec(
        name=name,
        arity=arity,
        flags=frozenset(_names(flags)),
        first_key=first,
        last_key=last,
        key_step=step,
        acl_categories=tuple(_names(acl)),
        group="",
        info=None,
        docs=None,
        key_specs=parse_key_specs(from_typed_json(info[8])),
    )
    spec.subcommands = {sub.name.split("|")[1].encode(): sub for sub in subcommands}
    spec.is_container = bool(subcommands)
    return spec


def _redis_only_commands() -> list[tuple[str, CommandSpec | None, list[CommandSpec]]]:
    """(name, its spec or None for a served command, its other subcommands), as captured
    from Redis 7.0 by scripts/dev/gen_command_specs.py."""
    text = resources.files(__package__).joinpath("redis_acl_commands.json").read_text()
    out: list[tuple[str, CommandSpec | None, list[CommandSpec]]] = []
    for name, entry in json.loads(text):
        subs = [_spec(sub["info"]) for sub in entry["subcommands"]]
        out.append((name, None if entry["info"] is None else _spec(entry["info"], subs), subs))
    return out


class Catalog:
    """The command bits of one command table: an id per command and subcommand (those served,
    in table order, then Redis's others), each category's members, and what setting a command
    or a category sets."""

    def __init__(self, table: CommandTable) -> None:
        self.table = table
        self.ids: dict[str, int] = {}
        self.order: list[CommandSpec] = []  # every command, each subcommand after its parent
        # Redis's commands (and subcommands) Concord does not serve, by full name.
        self._others: dict[bytes, CommandSpec] = {}
        extra = _redis_only_commands()
        extra_subs = {name: subs for name, parent, subs in extra if parent is None}
        children: dict[str, list[CommandSpec]] = {}
        for spec in table.commands():
            kids = [*spec.subcommands.values(), *extra_subs.get(spec.name, [])]
            children[spec.name] = kids
            for entry in (spec, *kids):
                self._add(entry)
        for name, parent, subs in extra:
            if parent is None:
                continue
            children[name] = list(subs)
            for entry in (parent, *subs):
                self._add(entry, other=True)
        for other in (sub for subs in extra_subs.values() for sub in subs):
            self._others[other.name.encode()] = other
        self.future = 1 << len(self.order)  # "future commands": only +@all sets it
        self.everything = (self.future << 1) - 1
        # A command's bit with its subcommands' (ACLChangeSelectorPerm).
        self.with_subs: list[int] = []
        for entry in self.order:
            mask = 1 << self.ids[entry.name]
            for child in children.get(entry.name, ()):
                mask |= 1 << self.ids[child.name]
            self.with_subs.append(mask)
        self.members: dict[str, int] = {name: 0 for name in CATEGORIES}
        self.sets: dict[str, int] = {name: 0 for name in CATEGORIES}
        for entry in self.order:
            bit = self.ids[entry.name]
            for tag in entry.acl_categories:
                name = tag.removeprefix("@")
                if name in self.members:
                    self.members[name] |= 1 << bit
                    self.sets[name] |= self.with_subs[bit]

    def _add(self, entry: CommandSpec, *, other: bool = False) -> None:
        self.ids[entry.name] = len(self.order)
        self.order.append(entry)
        if other:
            self._others[entry.name.encode()] = entry

    def command(self, name: bytes) -> CommandSpec | None:
        """The command a rule names (`get`, `config|get`, `publish`), as ACLLookupCommand."""
        lowered = name.lower()
        spec = self.table.by_name(lowered)
        return spec if spec is not None else self._others.get(lowered)

    def find(self, argv: list[bytes]) -> CommandSpec | None:
        """The command argv names, served or not (ACL DRYRUN of a command Concord lacks)."""
        spec = self.table.find(argv)
        if spec is not None:
            return spec
        name = argv[0].lower()
        if len(argv) >= 2 and (name in self._others or self.table.by_name(name) is not None):
            sub = self._others.get(name + b"|" + argv[1].lower())
            if sub is not None:
                return sub
        return self._others.get(name)

    def subcommands_of(self, entry: CommandSpec) -> bool:
        """Whether a command has subcommands (served or not)."""
        return bool(entry.subcommands) or any(
            other.startswith(entry.name.encode() + b"|") for other in self._others
        )

    def in_category(self, category: str) -> list[CommandSpec]:
        members = self.members[category]
        return [entry for i, entry in enumerate(self.order) if members >> i & 1]


def category_of(name: bytes) -> str | None:
    """A category name as given in a rule or ACL CAT (case-insensitive), if it is one."""
    lowered = name.lower()
    for category in CATEGORIES:
        if lowered == category.encode():
            return category
    return None


class Selector:
    """A set of permissions: commands, key patterns and channel patterns."""

    __slots__ = (
        "allchannels",
        "allcommands",
        "allkeys",
        "allowed",
        "channels",
        "firstargs",
        "patterns",
    )

    def __init__(self) -> None:
        self.allkeys = False
        self.allchannels = False  # acl-pubsub-default is resetchannels in Redis 7.0
        self.allcommands = False
        self.allowed = 0  # command bits
        self.firstargs: dict[int, list[bytes]] = {}  # command id -> allowed first arguments
        self.patterns: list[list[object]] = []  # [pattern, READ/WRITE bits], in order
        self.channels: list[bytes] = []

    def copy(self) -> Selector:
        other = Selector()
        other.allkeys, other.allchannels = self.allkeys, self.allchannels
        other.allcommands, other.allowed = self.allcommands, self.allowed
        other.firstargs = {i: list(args) for i, args in self.firstargs.items()}
        other.patterns = [list(pattern) for pattern in self.patterns]
        other.channels = list(self.channels)
        return other

    # -- rules -----------------------------------------------------------------------------

    def apply(self, op: bytes, catalog: Catalog) -> None:
        """One selector rule (Redis's ACLSetSelector); RuleError if it is not valid."""
        lowered = op.lower()
        if lowered in (b"allkeys", b"~*"):
            self.allkeys, self.patterns = True, []
        elif lowered == b"resetkeys":
            self.allkeys, self.patterns = False, []
        elif lowered in (b"allchannels", b"&*"):
            self.allchannels, self.channels = True, []
        elif lowered == b"resetchannels":
            self.allchannels, self.channels = False, []
        elif lowered in (b"allcommands", b"+@all"):
            self.allowed, self.allcommands, self.firstargs = catalog.everything, True, {}
        elif lowered in (b"nocommands", b"-@all"):
            self.allowed, self.allcommands, self.firstargs = 0, False, {}
        elif op[:1] in (b"~", b"%"):
            self._add_key_pattern(op)
        elif op[:1] == b"&":
            if self.allchannels:
                raise RuleError(CHANNEL_AFTER_ALL)
            pattern = op[1:]
            if has_spaces(pattern):
                raise RuleError(SYNTAX)
            if pattern not in self.channels:
                self.channels.append(pattern)
        elif op[:1] in (b"+", b"-") and op[1:2] != b"@":
            self._command_rule(op, catalog)
        elif op[:1] in (b"+", b"-"):
            category = category_of(op[2:])
            if category is None:
                raise RuleError(UNKNOWN_NAME)
            if op[:1] == b"+":
                self.allowed |= catalog.sets[category]
            else:
                self._clear(catalog.sets[category])
            for spec in catalog.in_category(category):
                self._reset_firstargs(catalog.ids[spec.name])
        else:
            raise RuleError(SYNTAX)

    def _add_key_pattern(self, op: bytes) -> None:
        if self.allkeys:
            raise RuleError(KEY_AFTER_ALL)
        if op[:1] == b"%":
            permission, offset = 0, 1
            while offset < len(op):
                c = op[offset : offset + 1].upper()
                offset += 1
                if c == b"R" and not permission & READ:
                    permission |= READ
                elif c == b"W" and not permission & WRITE:
                    permission |= WRITE
                elif c == b"~":
                    break
                else:
                    raise RuleError(SYNTAX)
            # (A `%R` with no `~` ends here too: Redis takes the empty rest as the pattern.)
        else:
            permission, offset = READ_WRITE, 1
        pattern = op[offset:]
        if has_spaces(pattern):
            raise RuleError(SYNTAX)
        for existing in self.patterns:
            if existing[0] == pattern:
                existing[1] = int(existing[1]) | permission  # type: ignore[call-overload]
                break
        else:
            self.patterns.append([pattern, permission])
        self.allkeys = False

    def _command_rule(self, op: bytes, catalog: Catalog) -> None:
        allow = op[:1] == b"+"
        name = op[1:]
        if not allow or b"|" not in name:
            spec = catalog.command(name)
            if spec is None:
                raise RuleError(UNKNOWN_NAME)
            self._change(catalog, spec, allow)
            return
        parent_name, _, first = name.rpartition(b"|")
        parent = catalog.command(parent_name)
        if parent is None:
            raise RuleError(UNKNOWN_NAME)
        if "|" in parent.name:
            raise RuleError(FIRST_ARG_OF_SUBCOMMAND)
        if not first:
            raise RuleError(SYNTAX)
        if catalog.subcommands_of(parent):
            sub = catalog.command(name)
            if sub is None:
                raise RuleError(UNKNOWN_NAME)
            self._change(catalog, sub, True)
            return
        # +select|0: one first argument of an otherwise refused command.
        allowed = self.firstargs.setdefault(catalog.ids[parent.name], [])
        if not any(first.lower() == arg.lower() for arg in allowed):
            allowed.append(first)

    def _change(self, catalog: Catalog, spec: CommandSpec, allow: bool) -> None:
        """Allow or refuse a command with its subcommands (ACLChangeSelectorPerm)."""
        bit = catalog.ids[spec.name]
        mask = catalog.with_subs[bit]
        if allow:
            self.allowed |= mask
        else:
            self._clear(mask)
        self._reset_firstargs(bit)

    def _clear(self, mask: int) -> None:
        if self.allowed & mask:
            self.allowed &= ~mask
        if mask:
            self.allcommands = False

    def _reset_firstargs(self, bit: int) -> None:
        if self.firstargs:
            self.firstargs.pop(bit, None)

    # -- checks ----------------------------------------------------------------------------

    def check(
        self, catalog: Catalog, spec: CommandSpec, argv: list[bytes], keys: _Keys
    ) -> tuple[int, int]:
        """(OK, 0), or why this selector refuses the command and the argument at fault."""
        if not self.allcommands and "no_auth" not in spec.flags:
            bit = catalog.ids[spec.name]
            if not self.allowed >> bit & 1:
                allowed = self.firstargs.get(bit)
                position = 2 if "|" in spec.name else 1
                if (
                    allowed is None
                    or len(argv) <= position
                    or not any(argv[position].lower() == arg.lower() for arg in allowed)
                ):
                    return DENIED_CMD, 0
        if not self.allkeys:
            for position, permission in keys.get(spec, argv):
                if not self.key_allowed(argv[position], permission):
                    return DENIED_KEY, position
        if not self.allchannels:
            channels = CHANNEL_ARGUMENTS.get(spec.name)
            if channels is not None:
                start, count, is_pattern = channels
                stop = len(argv) if count < 0 else min(start + count, len(argv))
                for position in range(start, stop):
                    if not self.channel_allowed(argv[position], is_pattern):
                        return DENIED_CHANNEL, position
        return OK, 0

    def key_allowed(self, key: bytes, permission: int) -> bool:
        if self.allkeys:
            return True
        for pattern, allowed in self.patterns:
            if int(allowed) & permission == permission and glob_match(pattern, key):  # type: ignore[call-overload, arg-type]
                return True
        return False

    def channel_allowed(self, channel: bytes, is_pattern: bool) -> bool:
        if self.allchannels:
            return True
        if is_pattern:
            return channel in self.channels
        return any(glob_match(pattern, channel) for pattern in self.channels)

    # -- describing ------------------------------------------------------------------------

    def describe(self, catalog: Catalog) -> str:
        """The selector as rules (ACLDescribeSelector): keys, channels, commands."""
        parts: list[str] = []
        if self.allkeys:
            parts.append("~*")
        else:
            parts.extend(_pattern_text(p, int(a)) for p, a in self.patterns)  # type: ignore[call-overload, arg-type]
        if self.allchannels:
            parts.append("&*")
        else:
            parts.append("resetchannels")
            parts.extend("&" + _text(c) for c in self.channels)
        parts.append(self.describe_commands(catalog))
        return " ".join(parts)

    def keys_text(self) -> str:
        if self.allkeys:
            return "~*"
        return " ".join(_pattern_text(p, int(a)) for p, a in self.patterns)  # type: ignore[call-overload, arg-type]

    def channels_text(self) -> str:
        if self.allchannels:
            return "&*"
        return " ".join("&" + _text(c) for c in self.channels)

    def describe_commands(self, catalog: Catalog) -> str:
        """The command rules that rebuild this selector's bits (Redis's greedy description:
        +@all or -@all, then the best-fitting categories, then single commands)."""
        additive = not self.allowed & catalog.future
        rules = ["-@all" if additive else "+@all"]
        fake = 0 if additive else catalog.everything
        temp = self.allowed
        applied: set[str] = set()  # (membership only)
        while True:
            best, min_diff, max_same = None, 1 << 62, 0
            for category in CATEGORIES:
                if category in applied:
                    continue
                members = catalog.members[category]
                on = (temp & members).bit_count()
                off = members.bit_count() - on
                diff, same = (off, on) if additive else (on, off)
                if same > diff and (diff < min_diff or (diff == min_diff and same > max_same)):
                    best, min_diff, max_same = category, diff, same
            if best is None:
                break
            mask = catalog.sets[best]
            if additive:
                rules.append("+@" + best)
                fake |= mask
                temp &= ~mask
            else:
                rules.append("-@" + best)
                fake &= ~mask
                temp |= mask
            applied.add(best)
        for bit, spec in enumerate(catalog.order):
            mine = self.allowed >> bit & 1
            if mine != fake >> bit & 1:
                rules.append(("+" if mine else "-") + spec.name)
                mask = catalog.with_subs[bit]
                fake = fake | mask if mine else fake & ~mask
            if not mine:
                rules.extend(f"+{spec.name}|{_text(arg)}" for arg in self.firstargs.get(bit, ()))
        return " ".join(rules)


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def _pattern_text(pattern: bytes, permission: int) -> str:
    prefix = {READ_WRITE: "~", READ: "%R~", WRITE: "%W~"}[permission]
    return prefix + _text(pattern)


class _Keys:
    """A command's key references, found once for all of a user's selectors."""

    __slots__ = ("_found",)

    def __init__(self) -> None:
        self._found: list[tuple[int, int]] | None = None

    def get(self, spec: CommandSpec, argv: list[bytes]) -> list[tuple[int, int]]:
        found = self._found
        if found is None:
            references = key_references(spec.key_specs, argv) or []
            found = self._found = [(p, _permission(flags)) for p, flags in references]
        return found


def _permission(flags: frozenset[bytes]) -> int:
    permission = READ if b"access" in flags else 0
    if flags & _WRITE_FLAGS:
        permission |= WRITE
    return permission


@dataclass(slots=True)
class Denial:
    """Why a user may not run a command: the reason and the argument at fault."""

    reason: int
    position: int  # the key's (or channel's) index in argv; 0 for a command


class User:
    """An ACL user. Changed in place (so connections keep their reference), by `set_rules`."""

    __slots__ = ("enabled", "name", "nopass", "passwords", "restricted", "sanitize", "selectors")

    def __init__(self, name: bytes) -> None:
        self.name = name
        self.enabled = False
        self.nopass = False
        self.sanitize: str | None = None  # "sanitize-payload" or "skip-sanitize-payload"
        self.passwords: list[str] = []
        self.selectors: list[Selector] = [Selector()]  # the root selector first
        self.restricted = True  # not every command, key and channel: checks are needed

    def copy_from(self, other: User) -> None:
        """Take `other`'s rules (not its name), as Redis's ACLCopyUser."""
        self.enabled, self.nopass, self.sanitize = other.enabled, other.nopass, other.sanitize
        self.passwords = list(other.passwords)
        self.selectors = [selector.copy() for selector in other.selectors]
        self.refresh()

    def refresh(self) -> None:
        self.restricted = not any(
            s.allcommands and s.allkeys and s.allchannels for s in self.selectors
        )

    def channel_permitted(self, channel: bytes, is_pattern: bool) -> bool:
        """Whether any selector lets it subscribe to `channel` (a pattern: literally)."""
        return any(s.channel_allowed(channel, is_pattern) for s in self.selectors)

    @property
    def root(self) -> Selector:
        return self.selectors[0]

    def password_matches(self, password: bytes) -> bool:
        if self.nopass:
            return True
        hashed = hash_password(password)
        return any(hmac.compare_digest(hashed, known) for known in self.passwords)

    def can_log_in(self, password: bytes) -> bool:
        return self.enabled and self.password_matches(password)

    # -- rules -----------------------------------------------------------------------------

    def apply(self, op: bytes, catalog: Catalog) -> None:
        """One user rule (Redis's ACLSetUser); RuleError if it is not valid."""
        if not op:
            return
        lowered = op.lower()
        if lowered == b"on":
            self.enabled = True
        elif lowered == b"off":
            self.enabled = False
        elif lowered == b"skip-sanitize-payload":
            self.sanitize = "skip-sanitize-payload"
        elif lowered == b"sanitize-payload":
            self.sanitize = "sanitize-payload"
        elif lowered == b"nopass":
            self.nopass, self.passwords = True, []
        elif lowered == b"resetpass":
            self.nopass, self.passwords = False, []
        elif op[:1] in (b">", b"#"):
            hashed = _password_hash(op, clear=b">")
            if hashed not in self.passwords:
                self.passwords.append(hashed)
            self.nopass = False
        elif op[:1] in (b"<", b"!"):
            hashed = _password_hash(op, clear=b"<")
            if hashed not in self.passwords:
                raise RuleError(NO_SUCH_PASSWORD)
            self.passwords.remove(hashed)
        elif op[:1] == b"(" and op[-1:] == b")":
            selector = Selector()
            for part in split_args(op[1:-1]) or []:
                selector.apply(part, catalog)
            self.selectors.append(selector)
        elif lowered == b"clearselectors":
            del self.selectors[1:]
        elif lowered == b"reset":
            self.nopass, self.passwords = False, []
            root = self.root
            root.allkeys, root.patterns = False, []
            root.allchannels, root.channels = False, []
            self.enabled = False
            self.sanitize = "sanitize-payload"
            del self.selectors[1:]
            root.allowed, root.allcommands, root.firstargs = 0, False, {}
        else:
            self.root.apply(op, catalog)

    # -- checks ----------------------------------------------------------------------------

    def check(self, catalog: Catalog, spec: CommandSpec, argv: list[bytes]) -> Denial | None:
        """None if the user may run argv (Redis's ACLCheckAllUserCommandPerm), else why not:
        with several selectors, a key or channel refusal wins over a command one, and the
        last argument at fault is named."""
        keys = _Keys()
        reason, last = DENIED_CMD, 0
        for selector in self.selectors:
            result, position = selector.check(catalog, spec, argv, keys)
            if result == OK:
                return None
            if result > reason or (result == reason and position > last):
                reason, last = result, position
        return Denial(reason, last)

    def key_allowed(self, key: bytes, permission: int) -> bool:
        return any(s.key_allowed(key, permission) for s in self.selectors)

    def channel_allowed(self, channel: bytes, is_pattern: bool = False) -> bool:
        return any(s.channel_allowed(channel, is_pattern) for s in self.selectors)

    # -- describing ------------------------------------------------------------------------

    def flags(self) -> list[str]:
        """The flags GETUSER and ACL LIST show, in Redis's order."""
        flags = ["on" if self.enabled else "off"]
        if self.nopass:
            flags.append("nopass")
        if self.sanitize is not None:
            flags.append(self.sanitize)
        return flags

    def describe(self, catalog: Catalog) -> str:
        """The user as rules, without its name (Redis's ACLDescribeUser)."""
        parts = self.flags() + ["#" + hashed for hashed in self.passwords]
        parts.append(self.root.describe(catalog))
        parts.extend(f"({s.describe(catalog)})" for s in self.selectors[1:])
        return " ".join(parts)


def merge_selector_arguments(ops: list[bytes]) -> list[bytes]:
    """Rules as given, with a selector spread over several arguments (`(+get` `~k)`) joined
    into one (Redis's ACLMergeSelectorArguments); RuleError-free: a RuleError carrying
    the full message if a parenthesis is not closed."""
    merged: list[bytes] = []
    opened: bytes | None = None
    for op in ops:
        if opened is None and op[:1] == b"(" and op[-1:] != b")":
            opened = op
            start = op
            continue
        if opened is not None:
            opened += b" " + op
            if op[-1:] == b")":
                merged.append(opened)
                opened = None
            continue
        merged.append(op)
    if opened is not None:
        raise RuleError(f"Unmatched parenthesis in acl selector starting at '{_text(start)}'.")
    return merged


def changed_user(
    existing: User | None, name: bytes, ops: Iterable[bytes], catalog: Catalog
) -> User:
    """`existing` (or a new user) with the rules applied, as a new object, all or nothing
    (Redis's ACLStringSetUser). RuleError carries the whole error text."""
    merged = merge_selector_arguments(list(ops))
    user = User(name)
    if existing is not None:
        user.copy_from(existing)
    for op in merged:
        try:
            user.apply(op, catalog)
        except RuleError as error:
            raise RuleError(
                f"Error in ACL SETUSER modifier '{_text(op)}': {error.reason}"
            ) from None
    user.refresh()
    return user


def user_from_rules(name: bytes, ops: Iterable[bytes], catalog: Catalog) -> User:
    """A new user from an ACL file line's rules, applied one by one as Redis loads a file
    (selectors spread over several rules joined first). RuleError names the rule at fault
    (`RuleError.op`)."""
    user = User(name)
    for op in merge_selector_arguments(list(ops)):
        op = op.strip(b"\t\r\n")
        try:
            user.apply(op, catalog)
        except RuleError as error:
            error.op = op
            raise
    user.refresh()
    return user


def default_user(catalog: Catalog) -> User:
    """The `default` user of a fresh server: on, nopass, every command, key and channel."""
    user = User(b"default")
    for op in (b"+@all", b"~*", b"&*", b"on", b"nopass"):
        user.apply(op, catalog)
    user.refresh()
    return user


def rules_of(text: bytes) -> Iterator[bytes]:
    """The rules of an `ACL LIST` line or an aclfile line after `user NAME` (split on spaces,
    as Redis splits a configuration line)."""
    return iter(split_args(text) or [])
