"""``xordsim mnist train|cluster|compress``: the MNIST experiments of Section 7, one run each.

Every option is declared once in :mod:`xordsim.mnist.config` (kind, default, range or
choices, help) and parsed from that declaration. Everything is checked before any data is
loaded or any network trained: the values, the combinations (``--weights`` with training
options, ``--data-dir`` with ``--dataset mnist5k``, ``--clusters`` above the channels),
the output directory and the memory the training would need; nothing is written before
the results exist.

Import-light by rule: at import time this module imports only the standard library,
:mod:`xordsim._validate`, :mod:`xordsim.cli._common` and :mod:`xordsim.mnist.config`;
NumPy and the MNIST code are imported inside :func:`run`.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from xordsim._validate import InputError, Param, check_memory
from xordsim.cli._common import (
    OneLineParser,
    add_out,
    add_param,
    add_quiet,
    add_seed,
    add_threads,
    apply_threads,
    check_output_dir,
    given,
    param_value,
    require_extra,
    seed_value,
)
from xordsim.mnist.config import (
    CENTER_NORM,
    CLUSTERS,
    IDX_DATASETS,
    SMALL_CHANNELS,
    DataConfig,
    NetConfig,
    TrainConfig,
)

#: The declared options, by group (``seed`` is the common ``--seed``).
DATA_PARAMS: dict[str, Param] = DataConfig.params()
NET_PARAMS: dict[str, Param] = NetConfig.params()
TRAIN_PARAMS: dict[str, Param] = {k: p for k, p in TrainConfig.params().items() if k != "seed"}

#: Options of each command: the declared ones (by name) and the others.
OPTIONS: dict[str, dict[str, Param]] = {
    "train": {**DATA_PARAMS, **NET_PARAMS, **TRAIN_PARAMS},
    "cluster": {**DATA_PARAMS, **NET_PARAMS, **TRAIN_PARAMS, "clusters": CLUSTERS},
    "compress": {**DATA_PARAMS, **NET_PARAMS, **TRAIN_PARAMS,
                 "small_channels": SMALL_CHANNELS, "center_norm": CENTER_NORM},
}
#: Options a weights file replaces: with ``--weights`` they are an error.
NOT_WITH_WEIGHTS: dict[str, tuple[str, ...]] = {
    # cluster with --weights trains nothing and loads no data
    "cluster": (*DATA_PARAMS, *NET_PARAMS, *TRAIN_PARAMS),
    # compress with --weights still trains the small network on the data
    "compress": tuple(NET_PARAMS),
}

_HELP = {
    "train": "train one network and report its test error",
    "cluster": "k-means clustering of trained vs random filters (Fig. 4a)",
    "compress": "small net from a large net's k-means filter centres (Fig. 4b)",
}
_DESCRIPTION = {
    "train": "Train the network of Sec. 7 (conv -> ReLU -> 2x2 max-pool -> fully connected) "
             "and report its test error; --out writes the weights (mnist_net.npz, reused by "
             "'cluster' and 'compress' --weights) and a summary (mnist_train.json).",
    "cluster": "Cluster the unit-normalised filters of a trained network with k-means and "
               "report every filter's angle to its closest centre, for the trained filters "
               "and the same network's filters at initialisation (Fig. 4a). The network is "
               "trained here, or read from --weights (then the data, network and training "
               "options do not apply).",
    "compress": "Train a small network whose filters are the k-means centres of a large "
                "network's filters (frozen; the conv bias and the fully connected layer are "
                "trained) and compare test errors (Fig. 4b). The large network is trained "
                "here, or read from --weights (then the network options do not apply).",
}


def add_parser(sub) -> None:
    """Add ``mnist train|cluster|compress`` to the top-level subparsers object ``sub``."""
    m = sub.add_parser("mnist", help="MNIST experiments of Section 7 (train, cluster, compress)",
                       description="MNIST experiments of Section 7 (settings and their "
                                   "rationale: docs/mnist.md).")
    msub = m.add_subparsers(dest="mnist_command", required=True, parser_class=OneLineParser,
                            metavar="{train,cluster,compress}")
    for name in ("train", "cluster", "compress"):
        p = msub.add_parser(name, help=_HELP[name],
                            description=textwrap.fill(_DESCRIPTION[name], 79))
        for param in OPTIONS[name].values():
            add_param(p, param)
        add_seed(p)
        if name != "train":
            p.add_argument("--weights", default=None, metavar="NPZ",
                           help="weights of a trained network ('mnist train --out DIR' writes "
                                "DIR/mnist_net.npz) instead of training one")
        add_out(p, None, {"train": "directory for the weights (mnist_net.npz) and summary "
                                   "(mnist_train.json)",
                          "cluster": "directory for the angles (mnist_cluster.csv) and "
                                     "summary (mnist_cluster.json)",
                          "compress": "directory for the summary (mnist_compress.json)"}[name])
        add_threads(p)
        add_quiet(p)
        p.set_defaults(func=run, command=f"mnist {name}")


# ----------------------------------------------------------------------------------------
# reading the options (no heavy import)


def _values(args, params: dict[str, Param]) -> dict:
    out = {}
    for name, p in params.items():
        if name == "data_dir":  # a path: any non-empty string
            out[name] = None if args.data_dir is None else p.check(args.data_dir, p.option)
        else:
            out[name] = param_value(args, p)
    return out


def data_config(args) -> DataConfig:
    """The data options; ``--data-dir`` implies ``--dataset mnist`` and excludes mnist5k."""
    values = _values(args, DATA_PARAMS)
    if values["data_dir"] is not None:
        if not given(args, "dataset"):
            values["dataset"] = "mnist"
        elif values["dataset"] not in IDX_DATASETS:
            raise InputError(f"--data-dir applies to the IDX datasets "
                             f"({', '.join(IDX_DATASETS)}); it cannot be combined with "
                             f"--dataset {values['dataset']}")
        if not Path(values["data_dir"]).is_dir():
            raise InputError(f"--data-dir {values['data_dir']}: not a directory")
    try:
        return DataConfig(**values).check_sizes()
    except InputError as exc:  # name the options as typed
        raise InputError(str(exc).replace("n_train", "--n-train").replace("n_test", "--n-test")
                         ) from None


def net_config(args) -> NetConfig:
    return NetConfig(**_values(args, NET_PARAMS))


def train_config(args, seed: int) -> TrainConfig:
    return TrainConfig(**_values(args, TRAIN_PARAMS), seed=seed)


def _refuse_with_weights(args, command: str) -> None:
    for name in NOT_WITH_WEIGHTS[command]:
        if given(args, name):
            raise InputError(f"{OPTIONS[command][name].option} cannot be combined with "
                             f"--weights: it applies only when a network is trained here")


def _out(args) -> Path | None:
    return None if args.out is None else check_output_dir("--out", args.out)


def _weights_path(args) -> str:
    if not args.weights.strip():
        raise InputError(f"--weights must name a file, got {args.weights!r}")
    return args.weights


def check_training_memory(net: NetConfig, train: TrainConfig, data: DataConfig) -> None:
    """Refuse up front a run whose arrays would not fit in memory, naming the option that
    drives the estimate (:func:`xordsim.mnist.train.memory_estimate`)."""
    from xordsim.mnist.train import EVAL_BATCH, memory_estimate

    parts = memory_estimate(net, train, data.n_train, data.n_test)
    if parts["data"] >= parts["total"] - parts["data"]:
        option = "--n-train"
    elif parts["batch"] >= parts["model"] and train.batch_size > EVAL_BATCH:
        option = "--batch-size"
    else:
        option = "--channels"
    check_memory(option, parts["total"], "training arrays")


def _check_data_files(data: DataConfig) -> None:
    """The IDX directory and its four files exist (mnist5k needs nothing here)."""
    if data.dataset in IDX_DATASETS:
        from xordsim.mnist.data import check_idx_dir, resolve_data_dir

        check_idx_dir(resolve_data_dir(data.dataset, data.data_dir))


# ----------------------------------------------------------------------------------------
# running


def run(args) -> int:
    """Run ``args.command`` (``mnist train``, ``mnist cluster`` or ``mnist compress``)."""
    return {"mnist train": run_train, "mnist cluster": run_cluster,
            "mnist compress": run_compress}[args.command](args)


def _load_data(data: DataConfig, seed: int):
    from xordsim.mnist.data import load_dataset

    return load_dataset(data.dataset, data.n_train, data.n_test, seed, data.data_dir)


def _train_net(net_cfg: NetConfig, train_cfg: TrainConfig, data, quiet: bool):
    from xordsim.mnist.net import ConvNet
    from xordsim.mnist.train import evaluate, train

    net = ConvNet.create(net_cfg.channels, net_cfg.filter_size, train_cfg.seed,
                         conv_scale=net_cfg.init_scale)
    init_w = net.params["conv_w"].copy()
    hist = train(net, data.x_train, data.y_train, train_cfg, quiet,
                 desc=f"{net_cfg.channels}ch n={len(data.y_train)}")
    return net, init_w, hist, evaluate(net, data.x_test, data.y_test)


def _configs(args, seed: int):
    return data_config(args), net_config(args), train_config(args, seed)


def run_train(args) -> int:
    """``xordsim mnist train``."""
    require_extra("xordsim mnist train", "mnist")
    seed = seed_value(args)
    data_cfg, net_cfg, train_cfg = _configs(args, seed)
    out = _out(args)
    check_training_memory(net_cfg, train_cfg, data_cfg)
    _check_data_files(data_cfg)
    apply_threads(args)
    from xordsim.io import write_json
    from xordsim.mnist.net import save_network

    data = _load_data(data_cfg, seed)
    net, init_w, hist, err = _train_net(net_cfg, train_cfg, data, args.quiet)
    print(f"{data.describe()}; {net_cfg.channels} channels; final train loss "
          f"{hist['loss'][-1]:.4f}; test error {100 * err:.2f}%")
    if out is not None:
        summary = {"dataset": data.describe(), "channels": net_cfg.channels,
                   "test_error": err, "train_loss": hist["loss"], "epochs_run": hist["epochs"][0],
                   "seed": seed, "config": train_cfg.to_dict(), "net": net_cfg.to_dict(),
                   "data": data_cfg.to_dict(), "init_scale": net_cfg.init_scale}
        print(save_network(out / "mnist_net.npz", net, init_w))
        print(write_json(out / "mnist_train.json", summary))
    return 0


def _at_most_channels(option: str, value: int, channels: int, source: str) -> None:
    """A count of filters (clusters, small channels) cannot exceed the network's channels."""
    if value > channels:
        bound = (f"the {channels} channels of {source}" if source.startswith("--weights")
                 else f"{source} = {channels}")
        raise InputError(f"{option} must be at most {bound}, got {value}")


def run_cluster(args) -> int:
    """``xordsim mnist cluster``."""
    require_extra("xordsim mnist cluster", "mnist")
    seed = seed_value(args)
    clusters = param_value(args, CLUSTERS)
    if args.weights is not None:
        weights = _weights_path(args)
        _refuse_with_weights(args, "cluster")
    else:
        data_cfg, net_cfg, train_cfg = _configs(args, seed)
        _at_most_channels("--clusters", clusters, net_cfg.channels, "--channels")
    out = _out(args)
    if args.weights is None:
        check_training_memory(net_cfg, train_cfg, data_cfg)
        _check_data_files(data_cfg)
    apply_threads(args)
    import numpy as np

    from xordsim.io import write_json, write_text
    from xordsim.mnist.cluster import filter_angles
    from xordsim.mnist.experiments import mannwhitney
    from xordsim.mnist.net import load_network

    if args.weights is not None:
        net, init_w = load_network(weights)
        _at_most_channels("--clusters", clusters, net.channels, f"--weights {weights}")
        err = None
    else:
        data = _load_data(data_cfg, seed)
        net, init_w, _, err = _train_net(net_cfg, train_cfg, data, args.quiet)
    trained, _ = filter_angles(net.params["conv_w"], clusters, seed)
    line = f"median angle to closest centre: trained {np.median(trained):.1f} deg"
    rows = [f"trained,{i},{a:.6g}" for i, a in enumerate(trained)]
    result = {"median_trained": float(np.median(trained)), "clusters": clusters,
              "test_error": err, "seed": seed, "weights": args.weights}
    if init_w is not None:
        rand, _ = filter_angles(init_w, clusters, seed)
        _, p = mannwhitney(trained, rand)
        line += f", random {np.median(rand):.1f} deg; Mann-Whitney p = {p:.3g}"
        rows += [f"random,{i},{a:.6g}" for i, a in enumerate(rand)]
        result.update(median_random=float(np.median(rand)), mannwhitney_p=p)
    print(line)
    if out is not None:
        if args.weights is None:
            result.update(config=train_cfg.to_dict(), net=net_cfg.to_dict(),
                          data=data_cfg.to_dict())
        print(write_text(out / "mnist_cluster.csv",
                         "network,filter,angle_deg\n" + "\n".join(rows) + "\n"))
        print(write_json(out / "mnist_cluster.json", result))
    return 0


def run_compress(args) -> int:
    """``xordsim mnist compress``."""
    require_extra("xordsim mnist compress", "mnist")
    seed = seed_value(args)
    small = param_value(args, SMALL_CHANNELS)
    center_norm = param_value(args, CENTER_NORM)
    data_cfg, train_cfg = data_config(args), train_config(args, seed)
    if args.weights is not None:
        weights = _weights_path(args)
        _refuse_with_weights(args, "compress")
    else:
        net_cfg = net_config(args)
        _at_most_channels("--small-channels", small, net_cfg.channels, "--channels")
    out = _out(args)
    if args.weights is None:
        check_training_memory(net_cfg, train_cfg, data_cfg)
    _check_data_files(data_cfg)
    apply_threads(args)
    from xordsim.io import write_json
    from xordsim.mnist.experiments import compressed_net
    from xordsim.mnist.net import load_network
    from xordsim.mnist.train import evaluate, train

    if args.weights is not None:
        large, _ = load_network(weights)
        _at_most_channels("--small-channels", small, large.channels, f"--weights {weights}")
        check_training_memory(NetConfig(large.channels, large.filter_size), train_cfg,
                              data_cfg)
        data = _load_data(data_cfg, seed)
        large_err = evaluate(large, data.x_test, data.y_test)
    else:
        data = _load_data(data_cfg, seed)
        large, _, _, large_err = _train_net(net_cfg, train_cfg, data, args.quiet)
    comp = compressed_net(large, small, seed, center_norm)
    train(comp, data.x_train, data.y_train, train_cfg, args.quiet, desc=f"{small}ch centres")
    comp_err = evaluate(comp, data.x_test, data.y_test)
    print(f"{data.describe()}; test error: {large.channels}-channel net {100 * large_err:.2f}%, "
          f"{small}-channel net from its k-means centres {100 * comp_err:.2f}%")
    if out is not None:
        res = {"large_channels": large.channels, "small_channels": small,
               "center_norm": center_norm, "large_error": large_err,
               "compressed_error": comp_err, "seed": seed, "weights": args.weights,
               "config": train_cfg.to_dict(), "data": data_cfg.to_dict()}
        if args.weights is None:
            res["net"] = net_cfg.to_dict()
        print(write_json(out / "mnist_compress.json", res))
    return 0


__all__ = ["OPTIONS", "add_parser", "check_training_memory", "data_config",
           "net_config", "run", "run_cluster", "run_compress", "run_train", "train_config"]
