"""Command groups loaded when run: a help page lists them by their help text without importing their modules."""

from __future__ import annotations

from difflib import get_close_matches
from importlib import import_module
from typing import Any, ClassVar, NamedTuple

import typer
from typer._click.exceptions import UsageError  # Typer's own click (typer >= 0.20)
from typer.core import TyperCommand, TyperGroup


class Lazy(NamedTuple):
    """A command or command group whose module is imported only when it runs (or its own help is asked for)."""

    target: str  # "module:attribute": a typer.Typer (a group) or a command function
    help: str  # its help text, exactly as the loaded command has it (tests/test_cli_startup.py compares them)


def load(name: str, spec: Lazy) -> Any:
    """The click command of a lazy entry, built as `add_typer` / `command` would build it."""
    module, _, attribute = spec.target.partition(":")
    target = getattr(import_module(module), attribute)
    if isinstance(target, typer.Typer):
        group = typer.main.get_group(target)
        group.name = name
        return group
    holder = typer.Typer()
    holder.command(name)(target)
    return typer.main.get_group(holder).commands[name]


class LazyGroup(TyperGroup):
    """A group listing its commands in `order`; those in `lazy` are imported on first use. Subclasses set both."""

    order: ClassVar[tuple[str, ...]] = ()
    lazy: ClassVar[dict[str, Lazy]] = {}
    _listing = False  # while the group's own help page is drawn: lazy entries as placeholders

    def list_commands(self, ctx: typer.Context) -> list[str]:
        listed = [n for n in self.order if n in self.commands or n in self.lazy]
        return listed + [n for n in self.commands if n not in listed]

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        cmd = self.commands.get(cmd_name)
        if cmd is not None or cmd_name not in self.lazy:
            return cmd
        spec = self.lazy[cmd_name]
        if self._listing:
            return TyperCommand(name=cmd_name, help=spec.help)
        try:
            cmd = self.commands[cmd_name] = load(cmd_name, spec)
        except ImportError as exc:  # a missing optional dependency: say which, no traceback
            from mcrc.console import fail

            fail(f"`{ctx.command_path} {cmd_name}` cannot start: {exc.__class__.__name__}: {exc}", 1)
        return cmd

    def format_help(self, ctx: typer.Context, formatter: Any) -> None:
        self._listing = True
        try:
            return super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def resolve_command(self, ctx: typer.Context, args: list[str]) -> Any:
        try:
            return self._click_resolve_command(ctx, args)
        except UsageError as exc:  # suggest close names, lazy entries included, as Typer does for the others
            if self.suggest_commands and args:
                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    exc.message = f"{exc.message.rstrip('.')}. Did you mean {', '.join(repr(m) for m in matches)}?"
            raise
