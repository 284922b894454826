"""What every `shopgo` command shares: the configuration loaded once, and a database engine or
session made from it (disposed when the command is done)."""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator

import click

from server import config as config_mod

if TYPE_CHECKING:
    from sqlalchemy import Engine
    from sqlalchemy.orm import Session


class Ctx:
    """What every command shares: the configuration, loaded once."""

    def __init__(self, config_path: str | None) -> None:
        self.config_path = config_path
        self._cfg: dict[str, Any] | None = None

    @property
    def cfg(self) -> dict[str, Any]:
        if self._cfg is None:
            try:
                self._cfg = config_mod.load(self.config_path)
            except config_mod.ConfigError as exc:
                raise click.ClickException(f"configuration: {exc}. Fix config.toml or the SHOPGO_... variable.") from None
        return self._cfg

    def url(self, override: str | None = None) -> str:
        return override or config_mod.database_url(self.cfg)


pass_ctx = click.make_pass_decorator(Ctx)


def engine(ctx: Ctx, database: str | None = None) -> Engine:
    """An engine on the configured database, or on `database` when given."""
    from db.session import make_engine

    return make_engine(ctx.url(database))


@contextmanager
def session(ctx: Ctx, database: str | None = None) -> Iterator[Session]:
    """A session whose engine is disposed when the command is done with it."""
    from db.session import make_session_factory

    eng = engine(ctx, database)
    try:
        with make_session_factory(eng)() as sess:
            yield sess
    finally:
        eng.dispose()
