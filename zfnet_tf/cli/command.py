"""A `zfnet-tf` command as data: `zfnet_tf.cli.main` makes every command's parser from it."""

from __future__ import annotations

import argparse
import inspect
from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Command:
    """A `zfnet-tf` command (or an action of one, as `zfnet-tf client classify`): its name, the
    function that declares its flags, and `run(args)`, which turns them into one library call.

    `run`'s docstring is what the user reads: its first paragraph is the one-line help
    `zfnet-tf --help` lists, the rest the description of `zfnet-tf NAME --help` (argparse
    re-wraps both). A command of actions has no `run`; its `add_flags` adds the actions and
    `doc` stands for the docstring.
    """

    name: str
    add_flags: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int] | None = None
    doc: str | None = None

    def __post_init__(self) -> None:
        if not (self.doc or (self.run and self.run.__doc__)):
            raise ValueError(f"command {self.name!r}: give run a docstring (its --help text) or doc")

    def add_to(self, subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
        """Adds this command's parser to `subparsers` (a parser's `add_subparsers()`)."""
        help_line, _, description = inspect.cleandoc(self.doc or self.run.__doc__).partition("\n\n")
        parser = subparsers.add_parser(self.name, help=help_line, description=description or None)
        self.add_flags(parser)
        if self.run is not None:
            parser.set_defaults(func=self.run)
        return parser
