"""Entry point of the `zfnet-tf` command."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import warnings

import zfnet_tf.cli
from zfnet_tf.data.checks import SkippedFilesWarning
from zfnet_tf.progress import quiet_tensorflow

VERBOSE_FLAGS = ("-v", "--verbose")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zfnet-tf",
        description="ZFNet and its deconvnet: train, visualize, export, serve (arXiv 1311.2901).",
    )
    parser.add_argument(*VERBOSE_FLAGS, dest="tensorflow_logs", action="store_true",
                        help="show TensorFlow's start-up and info logging (hidden by default); "
                        "before the command: zfnet-tf --verbose train ...")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module_info in sorted(pkgutil.iter_modules(zfnet_tf.cli.__path__), key=lambda m: m.name):
        if module_info.name == "main":
            continue
        module = importlib.import_module(f"zfnet_tf.cli.{module_info.name}")
        for command in getattr(module, "COMMANDS", ()):
            command.add_to(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    # Before anything can load TensorFlow, also while the parser is built.
    quiet_tensorflow(verbose=bool(argv) and argv[0] in VERBOSE_FLAGS)
    args = build_parser().parse_args(argv)
    default_format = warnings.formatwarning

    def format_warning(message, category, *rest, **kwargs):
        # The files a command skipped are news for its user, not a code location.
        if issubclass(category, SkippedFilesWarning):
            return f"zfnet-tf {args.command}: warning: {message}\n"
        return default_format(message, category, *rest, **kwargs)

    warnings.formatwarning = format_warning
    try:
        result = args.func(args)
    except ValueError as error:
        print(f"zfnet-tf {args.command}: error: {error}", file=sys.stderr)
        return 2
    finally:
        warnings.formatwarning = default_format
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
