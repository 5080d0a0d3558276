"""``xordsim figure NAME``: draw one registered figure (PNG, SVG, the CSV behind it, JSON).

Each figure of :data:`xordsim.figures.registry.FIGURES` is a sub-command, so
``xordsim figure NAME --help`` lists that figure's settings (from its declared schema).
"""

from __future__ import annotations

import argparse

from xordsim.cli._common import (
    OneLineParser,
    add_dask,
    add_out,
    add_quiet,
    add_seed,
    add_set,
    add_threads,
    apply_threads,
    check_output_dir,
    dask_value,
    require_extra,
    seed_value,
)


def add_parser(sub) -> None:
    from xordsim.figures.registry import FIGURES, sweep_figures

    p = sub.add_parser(
        "figure",
        help="draw one figure (PNG, SVG, the CSV behind it and NAME.json)",
        description="Draw one figure as PNG and SVG, with the CSV of the numbers behind it "
        "and NAME.json (caption, settings, seed, time).\n\nfigures:\n"
        + "\n".join(f"  {name:<18} {spec.title}" for name, spec in FIGURES.items())
        + "\n\n'xordsim figure NAME --help' lists the --set keys of a figure."
        + f"\n\n{', '.join(sweep_figures())} are sweeps: their runs are computed into the "
        "store DIR/sweeps/NAME (rerunning reuses the finished points) and take --dask "
        "local:N or a scheduler address; the other figures run in-process and take no "
        "--dask.",
    )
    names = p.add_subparsers(dest="figure", required=True, metavar="NAME",
                             parser_class=OneLineParser)
    for name, spec in FIGURES.items():
        extra = (f"\n\nneeds the optional dependencies of xordsim[{spec.extra}]"
                 if spec.extra else "")
        if spec.sweep is not None:
            extra += (f"\n\na sweep: its runs are computed into the store DIR/sweeps/{name} "
                      "(rerunning reuses the finished points; other settings replace the "
                      "store, keeping the points that did not change)")
        f = names.add_parser(name, help=spec.title,
                             description=f"{spec.title}.{extra}\n\n--set keys:\n"
                             + spec.settings_help())
        add_out(f, "results")
        add_seed(f)
        add_set(f, f"keys: {', '.join(spec.schema)}")
        f.add_argument("--quick", action="store_true",
                       help="the smaller settings of 'reproduce --quick'")
        f.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # tests only
        if spec.sweep is not None:
            add_dask(f, "run the figure's sweep on Dask")
        add_quiet(f)
        add_threads(f)
        f.set_defaults(func=run, command=f"figure {name}")


def run(args) -> int:
    from xordsim.figures.registry import get

    spec = get(args.figure)
    if spec.extra:
        require_extra(f"xordsim figure {spec.name}", spec.extra)
    seed = seed_value(args)
    dask = None
    if spec.sweep is not None:
        dask = dask_value(args, f"xordsim figure {spec.name} --dask") or "off"
    mode = "tiny" if args.tiny else ("quick" if args.quick else "full")
    spec.resolve(mode=mode, pairs=args.set)  # every setting checked before any work
    out = check_output_dir("--out", args.out)
    apply_threads(args)

    from xordsim.figures import draw

    for path in draw(spec.name, out, seed, mode=mode, set_pairs=args.set, quiet=args.quiet,
                     dask=dask):
        print(path)
    return 0
