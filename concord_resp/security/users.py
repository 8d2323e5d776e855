"""The ACL users as replicated state (a `Section`).

ACL SETUSER, ACL DELUSER, ACL LOAD and CONFIG SET requirepass are log entries, so every node
applies the same changes in the same order and any node can authenticate any user at once.
Snapshots carry each user as its `ACL LIST` rules. A `User` object is changed in place, so a
connection's reference follows its user's changes; a user that is deleted (or that a restored
snapshot or ACL LOAD no longer has) is reported to `on_removed`, whose connections the node
closes, as Redis does for its own.

`configured` says whether the users were ever set through the log. Until they are, a node
started with `--requirepass` or `--aclfile` proposes its start-up users once (`bootstrap`),
and the first such entry applied wins on every node (see docs/architecture.md).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Final

from .acl import Catalog, RuleError, User, changed_user, default_user, rules_of, user_from_rules

DEFAULT: Final = b"default"


class Users:
    kinds: tuple[str, ...] = ("acl-user", "acl-configured", "acl-requirepass")

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.by_name: dict[bytes, User] = {DEFAULT: default_user(catalog)}
        self.configured = False
        self.requirepass = b""  # as CONFIG SET requirepass last set it (CONFIG GET shows it)
        # The node's hook: these users are gone (their connections close).
        self.on_removed: Callable[[list[bytes]], None] | None = None
        # ACL SETUSER changed a user: the node closes its subscribers whose channels it no
        # longer allows (Redis's ACLKillPubsubClientsIfNeeded).
        self.on_changed: Callable[[User], None] | None = None

    @property
    def default(self) -> User:
        return self.by_name[DEFAULT]

    def get(self, name: bytes) -> User | None:
        return self.by_name.get(name)

    def names(self) -> list[bytes]:
        """Every user name, sorted bytewise (the order of Redis's radix tree)."""
        return sorted(self.by_name)

    def script_user(self, name: bytes) -> User:
        """The user a logged script's calls are checked with: `name`, or, if it was deleted
        before the entry was applied, a user that may run nothing."""
        return self.by_name.get(name) or User(name)

    def auth_required(self) -> bool:
        """Whether a new connection must authenticate (the default user needs a password,
        or is off)."""
        default = self.default
        return not (default.nopass and default.enabled)

    # -- changes (applied from log entries) --------------------------------------------------

    def set_user(self, name: bytes, ops: list[bytes]) -> None:
        """ACL SETUSER: create or change `name`, all rules or none (RuleError)."""
        existing = self.by_name.get(name)
        updated = changed_user(existing, name, ops, self.catalog)
        if existing is None:
            self.by_name[name] = updated
        else:
            existing.copy_from(updated)
            if self.on_changed is not None:
                self.on_changed(existing)
        self.configured = True

    def set_requirepass(self, password: bytes) -> None:
        """CONFIG SET requirepass: the default user's only password, or none (nopass)."""
        self.requirepass = password
        default = self.default
        default.apply(b"resetpass", self.catalog)
        default.apply(b">" + password if password else b"nopass", self.catalog)
        default.refresh()
        self.configured = True

    def delete(self, names: list[bytes]) -> int:
        """ACL DELUSER (the caller refuses `default`); how many existed."""
        gone = [name for name in names if self.by_name.pop(name, None) is not None]
        self.configured = True
        self._removed(gone)
        return len(gone)

    def replace(self, definitions: list[tuple[bytes, list[bytes]]], *, bootstrap: bool) -> bool:
        """Every user at once (ACL LOAD, or a node's start-up users): all or nothing
        (RuleError). As Redis's ACL LOAD, the default user keeps its object and every other
        user's connections close, even if the user is defined again. A bootstrap is ignored
        once the users were configured; returns whether it was applied."""
        if bootstrap and self.configured:
            return False
        built: dict[bytes, User] = {}
        for name, ops in definitions:
            if name in built:
                raise RuleError(f"Duplicate user '{name.decode(errors='replace')}'")
            built[name] = user_from_rules(name, ops, self.catalog)
        default = built.pop(DEFAULT, None) or default_user(self.catalog)
        kept = self.default
        kept.copy_from(default)
        gone = [name for name in self.by_name if name != DEFAULT]
        self.by_name = {DEFAULT: kept, **built}
        self.configured = True
        self._removed(gone)
        return True

    def _adopt_users(self, users: dict[bytes, User]) -> None:
        """Take `users`, keeping the objects of users that stay (connections hold them)."""
        mine = self.by_name
        gone = [name for name in mine if name not in users]
        merged: dict[bytes, User] = {}
        for name, user in users.items():
            kept = mine.get(name)
            if kept is None:
                merged[name] = user
            else:
                kept.copy_from(user)
                merged[name] = kept
        self.by_name = merged
        self._removed(gone)

    def _removed(self, names: list[bytes]) -> None:
        if names and self.on_removed is not None:
            self.on_removed(names)

    # -- Section -----------------------------------------------------------------------------

    def reset(self) -> None:
        self._adopt_users({DEFAULT: default_user(self.catalog)})
        self.configured = False
        self.requirepass = b""

    def adopt(self, other: Users) -> None:
        self._adopt_users(other.by_name)
        self.configured = other.configured
        self.requirepass = other.requirepass

    def snapshot_records(self) -> Iterator[list[Any]]:
        if self.configured:
            yield ["acl-configured"]
        if self.requirepass:
            yield ["acl-requirepass", self.requirepass]
        for name in self.names():
            yield ["acl-user", name, self.by_name[name].describe(self.catalog).encode()]

    def restore(self, record: list[Any]) -> None:
        if record[0] == "acl-configured":
            self.configured = True
            return
        if record[0] == "acl-requirepass":
            _, password = record
            if not isinstance(password, bytes):
                raise TypeError("an acl-requirepass record is [kind, password]")
            self.requirepass = password
            return
        _, name, rules = record
        if not isinstance(name, bytes) or not isinstance(rules, bytes):
            raise TypeError("an acl-user record is [kind, name, rules]")
        try:
            user = changed_user(None, name, list(rules_of(rules)), self.catalog)
        except RuleError as error:
            raise ValueError(f"acl-user {name!r}: {error.reason}") from None
        existing = self.by_name.get(name)
        if existing is None:
            self.by_name[name] = user
        else:
            existing.copy_from(user)
