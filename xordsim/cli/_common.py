"""What every command shares: the one-line parser, declared options, output checks, extras.

Import-light by rule: this module (and every command module at import time) imports
only the standard library, :mod:`xordsim._validate` and :mod:`xordsim.config`; heavy
modules are imported inside a command's ``run`` (``tests/test_cli_startup.py``).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import tempfile
from pathlib import Path

from xordsim._validate import InputError, Param, check_int
from xordsim.config import EXTRAS

# '-1', '-1.5', '-.5', '-1e5', '-inf', '-nan': values, not options
_NEGATIVE = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.I)


class OneLineParser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line (naming the full command) with exit status 2,
    and which reads ``-inf`` or ``-1e5`` as values, never as options."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)
        self._negative_number_matcher = _NEGATIVE
        self._has_negative_number_optionals = []

    def error(self, message: str):  # noqa: D102
        message = " ".join(message.split())
        self.exit(2, f"{self.prog}: error: {message}\n")


def add_param(parser, p: Param, *, option: str | None = None, help: str | None = None) -> None:
    """Add the declared parameter ``p`` as ``--option VALUE`` (read as a string, parsed and
    checked by :func:`param_value` so every message has the same form)."""
    option = option or p.option
    metavar = p.name.upper() if p.choices is None else "{" + ",".join(map(str, p.choices)) + "}"
    parser.add_argument(option, dest=p.name, default=None, metavar=metavar,
                        help=help or p.help_text())


def param_value(args, p: Param, option: str | None = None):
    """The value of the declared option ``p``: parsed and checked if given, else its default."""
    raw = getattr(args, p.name, None)
    if raw is None:
        return p.default
    return p.parse(raw, option or p.option)


def given(args, name: str) -> bool:
    """Whether the option stored under ``name`` was given on the command line."""
    return getattr(args, name, None) is not None


# ----------------------------------------------------------------------------------------
# common options


def add_seed(parser) -> None:
    parser.add_argument("--seed", default="0", metavar="SEED",
                        help="random seed: any integer >= 0 (default: 0)")


def seed_value(args) -> int:
    return Param("seed", "seed", 0).parse(args.seed, "--seed")


def add_out(parser, default: str | None, what: str = "output directory") -> None:
    text = f"default: {default}" if default else "default: none, nothing is written"
    parser.add_argument("--out", default=default, metavar="DIR", help=f"{what} ({text})")


def add_quiet(parser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_json(parser) -> None:
    parser.add_argument("--json", nargs="?", const="-", default=None, metavar="FILE",
                        help="also write the results as JSON to FILE (atomically), or to "
                             "standard output when FILE is omitted or '-'")


def add_set(parser, keys_help: str = "") -> None:
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", default=None,
                        help="override a setting (repeatable)" + (f"; {keys_help}" if keys_help
                                                                  else ""))


def add_dask(parser, what: str) -> None:
    parser.add_argument("--dask", default=None, metavar="ADDRESS",
                        help=f"{what}. ADDRESS: local:N (N single-threaded worker processes "
                        "on this machine) or a scheduler address tcp://HOST:PORT (default: "
                        "in-process, or $XORDSIM_DASK_SCHEDULER when set; 'off' forces "
                        "in-process); same numbers either way; needs the dask extra")


def dask_value(args, command: str) -> str | None:
    """The checked ``--dask`` choice (``$XORDSIM_DASK_SCHEDULER`` when not given): None for
    in-process, else ``local:N`` or an address, with the dask extra installed. One-line
    error (exit 2) for anything else."""
    from xordsim.sweep.runner import parse_dask

    dask = parse_dask(args.dask, "--dask")
    if dask is not None:
        require_extra(command, "dask")
    return dask


def add_threads(parser) -> None:
    parser.add_argument("--threads", default=None, metavar="N",
                        help="numba threads: an integer in [1, number of cores] (default: all)")


def apply_threads(args) -> None:
    """Set numba's thread count from ``--threads`` (imports numba: call inside ``run``)."""
    if args.threads is None:
        return
    n = Param("threads", "int", None, low=1, high=os.cpu_count() or 1).parse(args.threads,
                                                                             "--threads")
    import numba

    numba.set_num_threads(check_int("--threads", n, 1, numba.config.NUMBA_NUM_THREADS))


# ----------------------------------------------------------------------------------------
# output locations: checked before any computation starts


def _first_existing(path: Path) -> Path:
    p = path
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_writable_dir(option: str, directory: Path, target: Path) -> None:
    if not directory.is_dir():
        raise InputError(f"{option}: cannot write {target}: {directory} is not a directory")
    try:
        fd, probe = tempfile.mkstemp(dir=directory, prefix=".xordsim-probe-")
    except OSError as exc:
        raise InputError(f"{option}: cannot write in {directory} ({exc.strerror or exc})"
                         ) from None
    os.close(fd)
    os.unlink(probe)


def check_output_dir(option: str, path) -> Path:
    """Check that ``path`` is, or can be created as, a writable directory; creates nothing."""
    if path is None or str(path).strip() == "":
        raise InputError(f"{option} must name a directory, got {path!r}")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option}: {path} exists and is not a directory")
    _check_writable_dir(option, _first_existing(path), path)
    return path


def check_output_file(option: str, path, suffix: str | None = None) -> Path:
    """Check that the file ``path`` can be written (its folder exists or can be made, and
    it is not a directory); creates nothing."""
    if path is None or str(path).strip() == "":
        raise InputError(f"{option} must name a file, got {path!r}")
    path = Path(path)
    if suffix and path.suffix != suffix:
        raise InputError(f"{option} must name a {suffix} file, got {str(path)!r}")
    if path.is_dir():
        raise InputError(f"{option}: {path} is a directory, not a file")
    _check_writable_dir(option, _first_existing(path.parent), path)
    return path


def require_extra(command: str, extra: str) -> None:
    """Exit 2 (via :class:`InputError`) when the optional dependencies of ``extra`` are
    missing; checked with ``importlib.util.find_spec``, never by catching ImportError."""
    missing = missing_modules(extra)
    if missing:
        raise InputError(f"{command} needs the optional dependencies {', '.join(missing)} "
                         f"(not installed); install it with: pip install \"xordsim[{extra}]\"")


def missing_modules(extra: str) -> list[str]:
    """The modules of the optional dependency group ``extra`` that cannot be found."""
    return [m for m in EXTRAS[extra] if importlib.util.find_spec(m) is None]
