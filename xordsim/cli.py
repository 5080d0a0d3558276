"""Command-line interface: ``xordsim train | figure | mnist | data``.

Every error in user input ends with a one-line message and exit status 2.
"""

from __future__ import annotations

import argparse
import sys

from xordsim._validate import InputError


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line and exit with status 2."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    from xordsim import __version__

    parser = OneLineParser(prog="xordsim", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"xordsim {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    from xordsim import cli_train

    cli_train.add_parser(sub)
    from xordsim import cli_theorems

    cli_theorems.add_parser(sub)
    from xordsim import cli_reproduce

    cli_reproduce.add_parser(sub)
    _add_figure_parser(sub)
    try:
        from xordsim.mnist import cli as mnist_cli
    except ImportError:  # the MNIST path is optional at this stage
        mnist_cli = None
    if mnist_cli is not None:
        mnist_cli.add_parsers(sub)
    return parser


def figure_registry() -> dict:
    """Map figure name -> ``builder(out_dir, seed, settings, quiet) -> list[Path]``."""
    from xordsim.figures import FIGURES

    registry: dict = dict(FIGURES)
    try:
        from xordsim.mnist.figures import FIGURES as mnist_figures
    except ImportError:
        mnist_figures = {}
    registry.update(mnist_figures)
    return registry


def _add_figure_parser(sub) -> None:
    p = sub.add_parser("figure", help="draw one figure (PNG, SVG and the CSV behind it)")
    p.add_argument("name", help="figure name: " + ", ".join(sorted(figure_registry())))
    p.add_argument("--out", default="results", help="output directory (default: results)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a setting")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_run_figure)


def _run_figure(args) -> int:
    from pathlib import Path

    registry = figure_registry()
    if args.name not in registry:
        raise InputError(f"figure must be one of {', '.join(sorted(registry))}; got {args.name!r}")
    paths = registry[args.name](Path(args.out), args.seed, args.set or [], args.quiet)
    for path in paths:
        print(path)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"xordsim {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("xordsim: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
