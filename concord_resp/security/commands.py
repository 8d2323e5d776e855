"""The ACL subcommands that change or read the replicated users (pure handlers).

SETUSER and DELUSER are log entries (every node applies them); GETUSER, LIST, USERS and
DRYRUN are linearizable reads of the users; CAT reads only the command table. WHOAMI, LOG,
GENPASS, SAVE, LOAD and AUTH concern one connection or one node: they are the server's.
"""

from __future__ import annotations

from typing import cast

from ..commands import CommandError, Context, Route
from ..commands.spec import command
from ..resp import OK, Map, Reply, RespSet
from .acl import (
    CATEGORIES,
    DENIED_CMD,
    DENIED_KEY,
    Catalog,
    RuleError,
    Selector,
    User,
    category_of,
    has_spaces,
)
from .users import DEFAULT, Users


def users_of(ctx: Context) -> Users:
    return cast(Users, ctx.acl)


def _text(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


@command("acl|setuser", route=Route.LOG)
def acl_setuser(ctx: Context, argv: list[bytes]) -> Reply:
    name = argv[2]
    if has_spaces(name):
        raise CommandError("ERR Usernames can't contain spaces or null characters")
    try:
        users_of(ctx).set_user(name, argv[3:])
    except RuleError as error:
        raise CommandError("ERR " + error.reason) from None
    return OK


@command("acl|deluser", route=Route.LOG)
def acl_deluser(ctx: Context, argv: list[bytes]) -> Reply:
    names = argv[2:]
    if DEFAULT in names:
        raise CommandError("ERR The 'default' user cannot be removed")
    return users_of(ctx).delete(names)


def _selector_fields(selector: Selector, catalog: Catalog) -> list[tuple[Reply, Reply]]:
    return [
        (b"commands", selector.describe_commands(catalog).encode()),
        (b"keys", selector.keys_text().encode()),
        (b"channels", selector.channels_text().encode()),
    ]


def describe_for_getuser(user: User, catalog: Catalog) -> Reply:
    """ACL GETUSER's map: flags, passwords, the root selector's fields, then selectors."""
    fields: list[tuple[Reply, Reply]] = [
        (b"flags", RespSet(flag.encode() for flag in user.flags())),
        (b"passwords", [hashed.encode() for hashed in user.passwords]),
    ]
    fields += _selector_fields(user.root, catalog)
    selectors: list[Reply] = [Map(_selector_fields(s, catalog)) for s in user.selectors[1:]]
    fields.append((b"selectors", selectors))
    return Map(fields)


@command("acl|getuser", route=Route.READ)
def acl_getuser(ctx: Context, argv: list[bytes]) -> Reply:
    users = users_of(ctx)
    user = users.get(argv[2])
    return None if user is None else describe_for_getuser(user, users.catalog)


def user_line(user: User, catalog: Catalog) -> bytes:
    """A user as ACL LIST and aclfiles show it: `user NAME rules...`."""
    return b"user " + user.name + b" " + user.describe(catalog).encode()


@command("acl|list", route=Route.READ)
def acl_list(ctx: Context, argv: list[bytes]) -> Reply:
    users = users_of(ctx)
    catalog = users.catalog
    return [user_line(users.by_name[name], catalog) for name in users.names()]


@command("acl|users", route=Route.READ)
def acl_users(ctx: Context, argv: list[bytes]) -> Reply:
    return users_of(ctx).names()


@command("acl|cat", route=Route.LOCAL)
def acl_cat(ctx: Context, argv: list[bytes]) -> Reply:
    if len(argv) == 2:
        return [name.encode() for name in CATEGORIES]
    if len(argv) > 3:
        raise CommandError(
            f"ERR unknown subcommand or wrong number of arguments for '{_text(argv[1])[:128]}'."
            " Try ACL HELP."
        )
    category = category_of(argv[2])
    if category is None:
        raise CommandError(f"ERR Unknown category '{_text(argv[2])[:128]}'")
    return [spec.name.encode() for spec in users_of(ctx).catalog.in_category(category)]


@command("acl|dryrun", route=Route.READ)
def acl_dryrun(ctx: Context, argv: list[bytes]) -> Reply:
    users = users_of(ctx)
    user = users.get(argv[2])
    if user is None:
        raise CommandError(f"ERR User '{_text(argv[2])}' not found")
    tested = argv[3:]
    spec = users.catalog.find(tested)  # (Redis's commands Concord does not serve too)
    if spec is None:
        raise CommandError(f"ERR Command '{_text(argv[3])}' not found")
    if not spec.arity_ok(len(tested)):
        raise CommandError(f"ERR wrong number of arguments for '{spec.name}' command")
    denial = user.check(users.catalog, spec, tested)
    if denial is None:
        return OK
    if denial.reason == DENIED_CMD:
        return f"This user has no permissions to run the '{spec.name}' command".encode()
    what = "key" if denial.reason == DENIED_KEY else "channel"
    return (
        f"This user has no permissions to access the '{_text(tested[denial.position])}' {what}"
    ).encode()
