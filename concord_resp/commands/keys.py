"""Generic key commands (DEL, EXISTS, EXPIRE, RENAME, SCAN, ...)."""

from __future__ import annotations

from ..resp import Reply
from .context import Context
from .spec import command


@command("del", "unlink")
def delete(ctx: Context, argv: list[bytes]) -> Reply:
    db = ctx.db
    deleted = 0
    for key in argv[1:]:
        if db.get_for_write(key, ctx.now) is not None:
            db.delete(key, ctx.index)
            deleted += 1
    return deleted
