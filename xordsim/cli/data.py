"""``xordsim data fetch``: download a dataset's IDX files and check their SHA-256.

The dataset is declared in :mod:`xordsim.mnist.config` (:data:`FETCH_DATASET`); ``--dir``
and ``--mirror`` are checked before anything is downloaded or created, and a failed
download removes the directory it created (:func:`xordsim.mnist.fetch.fetch`).

Import-light by rule: at import time this module imports only the standard library,
:mod:`xordsim._validate`, :mod:`xordsim.cli._common` and :mod:`xordsim.mnist.config`.
"""

from __future__ import annotations

import os
import textwrap

from xordsim.cli._common import OneLineParser, add_quiet, check_output_dir
from xordsim.mnist.config import FETCH_DATASET, MIRROR_ENV


def add_parser(sub) -> None:
    """Add ``data fetch`` to the top-level subparsers object ``sub``."""
    d = sub.add_parser("data", help="datasets: download and verify",
                       description="Datasets of the MNIST experiments (docs/mnist.md).")
    dsub = d.add_subparsers(dest="data_command", required=True, parser_class=OneLineParser,
                            metavar="{fetch}")
    p = dsub.add_parser(
        "fetch", help="download a dataset's IDX files and check their SHA-256",
        description=textwrap.fill(
            "Download the four IDX files of a dataset into --dir, keeping each only when its "
            "SHA-256 is the published one; files already there with the right checksum are "
            "not downloaded again.", 79))
    p.add_argument("dataset", metavar="{" + ",".join(FETCH_DATASET.choices) + "}",
                   help=FETCH_DATASET.help_text())
    p.add_argument("--dir", required=True, metavar="DIR",
                   help="target directory (created if missing; removed again if the "
                        "download fails)")
    p.add_argument("--mirror", default=None, metavar="URL",
                   help=f"base URL of the mirror, http(s):// or file:// (default: "
                        f"${MIRROR_ENV}, else the one TensorFlow uses)")
    add_quiet(p)
    p.set_defaults(func=run, command="data fetch")


def run(args) -> int:
    """``xordsim data fetch DATASET --dir DIR``."""
    FETCH_DATASET.parse(args.dataset, "dataset")
    from xordsim.mnist.fetch import DEFAULT_MIRROR, check_mirror, fetch

    mirror = args.mirror if args.mirror is not None else (
        os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR)
    check_mirror(mirror)
    directory = check_output_dir("--dir", args.dir)
    for path in fetch(directory, mirror, quiet=args.quiet):
        print(path)
    return 0


__all__ = ["add_parser", "run"]
