"""`zfnet_tf.cli.command.Command`: a command's --help text is its `run`'s docstring."""

import argparse

import pytest

from zfnet_tf.cli.command import Command


def _count_files(args: argparse.Namespace) -> int:
    """count the files of a folder

    Prints how many files --folder holds,
    not counting sub-folders.
    """
    return len(args.folder)


def _add_folder_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--folder", required=True)


def _parser(*commands: Command) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tool")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in commands:
        command.add_to(subparsers)
    return parser


def test_help_line_and_description_come_from_the_docstring(capsys):
    parser = _parser(Command("count", _add_folder_flag, _count_files))
    parser.print_help()
    listing = capsys.readouterr().out
    assert "count     count the files of a folder\n" in listing
    assert "Prints how many" not in listing
    with pytest.raises(SystemExit):
        parser.parse_args(["count", "--help"])
    page = capsys.readouterr().out
    # argparse re-wraps the description: the docstring's line break is gone.
    assert "Prints how many files --folder holds, not counting sub-folders.\n" in page
    assert "--folder FOLDER" in page


def test_parsed_flags_reach_run():
    args = _parser(Command("count", _add_folder_flag, _count_files)).parse_args(["count", "--folder", "abc"])
    assert args.func is _count_files
    assert args.func(args) == 3


def test_a_command_of_actions_takes_doc_and_sets_no_func():
    def add_actions(parser: argparse.ArgumentParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True)
        Command("files", _add_folder_flag, _count_files).add_to(actions)

    parser = _parser(Command("folder", add_actions, doc="ask about a folder"))
    args = parser.parse_args(["folder", "files", "--folder", "ab"])
    assert (args.command, args.action, args.func(args)) == ("folder", "files", 2)
    assert "folder    ask about a folder" in parser.format_help()


def test_a_command_without_help_text_is_refused():
    def undocumented(args):
        return 0

    with pytest.raises(ValueError, match="command 'bare': give run a docstring"):
        Command("bare", _add_folder_flag, undocumented)
