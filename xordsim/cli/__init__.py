"""The command line: ``xordsim train | theorems | figure | reproduce | sweep | measures | score``,
``xordsim mnist | data``.

A thin shell: one module per command, each with ``add_parser(sub)`` and ``run(args)``.
Building the parser imports only the standard library and the declarations
(:mod:`xordsim.config`, the figure and theorem registries); a command imports NumPy,
numba, SciPy or matplotlib only when it runs, so ``xordsim --help`` answers at once.
Every error in user input ends with one line naming the option and the full command,
and exit status 2.
"""

from __future__ import annotations

import sys

from xordsim import __version__
from xordsim._validate import InputError
from xordsim.cli._common import OneLineParser

#: Command modules, in the order of the help.
COMMANDS = ("train", "theorems", "figure", "reproduce", "sweep", "measures", "score", "mnist",
            "data")


def build_parser() -> OneLineParser:
    """The full parser (every command's options), importing no heavy module."""
    import importlib

    parser = OneLineParser(
        prog="xordsim",
        description="Fast, exact simulator of Brutzkus & Globerson (ICML 2019): XOR and "
        "XORD networks, batched gradient descent, exact test errors, Monte Carlo checks of "
        "the paper's results.",
        epilog="'xordsim COMMAND --help' lists a command's options. Main job: "
        "'xordsim reproduce --out results'.",
    )
    parser.add_argument("--version", action="version", version=f"xordsim {__version__}")
    sub = parser.add_subparsers(dest="command_name", required=True, metavar="COMMAND",
                                parser_class=OneLineParser)
    for name in COMMANDS:
        importlib.import_module(f"xordsim.cli.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit status (2 for bad input)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, or argparse's one-line usage error
        return int(exc.code or 0)
    command = f"xordsim {getattr(args, 'command', args.command_name)}"
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"{command}: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{command}: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # the disk filled up, a file vanished while writing ...
        print(f"{command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
