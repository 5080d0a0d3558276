"""``xordsim mnist train|cluster|compress`` and ``xordsim data fetch``: bad input (generated
from the declarations), output and memory checks up front, --weights, --data-dir, seeds."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile

import numpy as np
import pytest

from xordsim import _validate
from xordsim._validate import InputError
from xordsim.cli import _common
from xordsim.cli import data as cli_data
from xordsim.cli import mnist as cli_mnist
from xordsim.cli._common import OneLineParser
from xordsim.mnist.config import FETCH_DATASET
from xordsim.mnist.idx import write_idx

TINY = ["--n-train", "100", "--n-test", "50", "--channels", "6", "--epochs", "1", "--quiet"]
COMMANDS = ("train", "cluster", "compress")


def _parser():
    parser = OneLineParser(prog="xordsim")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    cli_mnist.add_parser(sub)
    cli_data.add_parser(sub)
    return parser


def main(argv) -> int:
    """What ``xordsim.cli.main`` does with these commands (the lead wires them in)."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:  # argparse errors
        return exc.code
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"xordsim {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _run(argv, capsys):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


def _one_line(err: str) -> bool:
    return err.count("\n") == 1 and err.endswith("\n") and "Traceback" not in err


@pytest.fixture
def no_loading(monkeypatch):
    """Fail the test if a command gets as far as loading data or a weights file."""
    import xordsim.mnist.data as mdata
    import xordsim.mnist.net as mnet

    def boom(*args, **kwargs):
        raise AssertionError("data loaded before the input was checked")

    monkeypatch.setattr(mdata, "load_dataset", boom)
    monkeypatch.setattr(mnet, "load_network", boom)


# ----------------------------------------------------------------------------------------
# bad values, generated from the declarations


@pytest.mark.parametrize("command, name", [(c, n) for c in COMMANDS
                                           for n in cli_mnist.OPTIONS[c]])
def test_every_bad_value_of_every_option_exits_2(command, name, capsys, tmp_path, monkeypatch,
                                                 no_loading):
    monkeypatch.chdir(tmp_path)  # so that '--data-dir abc' names no directory
    p = cli_mnist.OPTIONS[command][name]
    for bad in p.bad_values():
        rc, out, err = _run(["mnist", command, p.option, bad], capsys)
        assert rc == 2, (p.option, bad, err)
        assert _one_line(err) and p.option in err, (p.option, bad, err)
        assert err.startswith(f"xordsim mnist {command}: error: "), err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_seed_exits_2(command, capsys, no_loading):
    for bad in _validate.Param("seed", "seed", 0).bad_values():
        rc, _, err = _run(["mnist", command, "--seed", bad], capsys)
        assert rc == 2 and _one_line(err) and "--seed" in err, (bad, err)


def test_bad_fetch_dataset_exits_2(capsys, tmp_path):
    for bad in FETCH_DATASET.bad_values():
        rc, _, err = _run(["data", "fetch", bad, "--dir", str(tmp_path / "d")], capsys)
        assert rc == 2 and _one_line(err) and "dataset must be one of mnist" in err, (bad, err)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["mnist", "train", "--bogus"], "unrecognized arguments"),
        (["mnist", "train", "--channels", "-3"], "--channels must be in [1, 100000], got -3"),
        (["mnist", "train", "--lr", "0"], "--lr must be a finite number in (0"),
        (["mnist", "train", "--lr", "abc"], "--lr must be a finite number"),
        (["mnist", "train", "--epochs", "0"], "--epochs must be in [1, "),
        (["mnist", "train", "--optimizer", "rmsprop"], "--optimizer must be one of adam, sgd"),
        (["mnist", "train", "--dataset", "cifar"], "--dataset must be one of"),
        (["mnist", "train", "--n-train", "4500", "--n-test", "1000"],
         "--n-train + --n-test must be at most 5000"),
        (["mnist", "cluster", "--clusters", "0"], "--clusters must be in [1, "),
        (["mnist", "cluster", "--clusters", "7", "--channels", "6"],
         "--clusters must be at most --channels = 6"),
        (["mnist", "compress", "--small-channels", "9", "--channels", "8"],
         "--small-channels must be at most --channels = 8"),
        (["mnist", "compress", "--center-norm", "x"], "--center-norm must be one of raw, unit"),
        (["mnist", "cluster", "--small-channels", "2"], "unrecognized arguments"),
        (["mnist", "train", "--weights", "x.npz"], "unrecognized arguments"),
        (["mnist"], "required"),
        (["mnist", "fly"], "invalid choice"),
        (["data", "fetch", "cifar", "--dir", "x"], "dataset must be one of"),
        (["data", "fetch", "mnist"], "--dir"),
        (["data", "fetch", "mnist", "--dir", "x", "--mirror", "ftp://x"], "--mirror must be"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, message, capsys, tmp_path, monkeypatch,
                                         no_loading):
    monkeypatch.chdir(tmp_path)
    rc, out, err = _run(argv, capsys)
    assert rc == 2
    assert message in err
    assert _one_line(err)
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_missing_extra_gives_the_install_hint(capsys, monkeypatch):
    monkeypatch.setattr(_common, "missing_modules", lambda extra: ["sklearn"])
    for command in COMMANDS:
        rc, _, err = _run(["mnist", command], capsys)
        assert rc == 2 and _one_line(err)
        assert f"xordsim mnist {command} needs the optional dependencies sklearn" in err
        assert 'pip install "xordsim[mnist]"' in err


# ----------------------------------------------------------------------------------------
# output, memory, option combinations: checked before any data is loaded


@pytest.mark.parametrize("command", COMMANDS)
def test_bad_out_is_refused_before_loading(command, capsys, tmp_path, no_loading):
    regular = tmp_path / "file.txt"
    regular.write_text("x")
    for out in (regular / "sub", regular, "/proc/xordsim-test", ""):
        rc, _, err = _run(["mnist", command, *TINY, "--out", str(out)], capsys)
        assert rc == 2 and _one_line(err) and "--out" in err, (out, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]


@pytest.mark.parametrize("command", COMMANDS)
def test_huge_sizes_are_refused_up_front(command, capsys, monkeypatch, no_loading):
    # 8 GiB available, whatever the machine (--channels 100000 needs about 10 GiB)
    monkeypatch.setattr(_validate, "available_memory", lambda: 8 * 2**30)
    rc, _, err = _run(["mnist", command, "--channels", "100000"], capsys)
    assert rc == 2 and _one_line(err)
    assert "--channels: the training arrays would need" in err and "reduce --channels" in err
    rc, _, err = _run(["mnist", command, "--batch-size", "1000000", "--dataset", "mnist",
                       "--n-train", "1000000"], capsys)
    assert rc == 2 and _one_line(err) and "--batch-size: the training arrays" in err


def test_memory_check_uses_the_available_memory(capsys, monkeypatch, no_loading):
    monkeypatch.setattr(_validate, "available_memory", lambda: 2 * 2**20)
    rc, _, err = _run(["mnist", "train", *TINY], capsys)
    assert rc == 2 and "more than the 2 MiB of memory available" in err and _one_line(err)


def test_memory_estimate_is_monotone():
    from xordsim.mnist.config import NetConfig, TrainConfig
    from xordsim.mnist.train import memory_estimate

    base = memory_estimate(NetConfig(), TrainConfig(), 4000, 1000)
    assert base["total"] < 2**30  # the defaults need well under a GiB
    assert memory_estimate(NetConfig(channels=240), TrainConfig(), 4000, 1000)["total"] > \
        base["total"]
    assert memory_estimate(NetConfig(), TrainConfig(batch_size=4000), 4000, 1000)["batch"] > \
        base["batch"]


@pytest.mark.parametrize("option", ["--channels", "--filter-size", "--init-scale", "--epochs",
                                    "--lr", "--dataset", "--n-train", "--optimizer"])
def test_cluster_refuses_training_options_with_weights(option, capsys, tmp_path, no_loading):
    value = {"--dataset": "mnist5k", "--optimizer": "sgd", "--init-scale": "0.5",
             "--lr": "0.01"}.get(option, "3")
    rc, _, err = _run(["mnist", "cluster", "--weights", str(tmp_path / "w.npz"), option, value],
                      capsys)
    assert rc == 2 and _one_line(err)
    assert f"{option} cannot be combined with --weights" in err


def test_compress_refuses_network_options_with_weights(capsys, tmp_path, no_loading):
    for option in ("--channels", "--filter-size", "--init-scale"):
        rc, _, err = _run(["mnist", "compress", "--weights", "w.npz", option, "3"], capsys)
        assert rc == 2 and f"{option} cannot be combined with --weights" in err


def test_data_dir_implies_idx_and_excludes_mnist5k(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("XORDSIM_DATA_DIR", raising=False)
    rc, _, err = _run(["mnist", "train", "--data-dir", str(tmp_path), "--dataset", "mnist5k"],
                      capsys)
    assert rc == 2 and "cannot be combined with --dataset mnist5k" in err and _one_line(err)
    rc, _, err = _run(["mnist", "train", "--data-dir", str(tmp_path / "nope")], capsys)
    assert rc == 2 and "--data-dir" in err and "not a directory" in err
    rc, _, err = _run(["mnist", "train", "--data-dir", str(tmp_path)], capsys)  # empty dir
    assert rc == 2 and "missing train-images-idx3-ubyte" in err and _one_line(err)
    rc, _, err = _run(["mnist", "train", "--dataset", "mnist"], capsys)
    assert rc == 2 and "needs --data-dir or $XORDSIM_DATA_DIR" in err
    rng = np.random.default_rng(0)
    for part, n in (("train", 60), ("t10k", 30)):
        write_idx(tmp_path / f"{part}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28)))
        write_idx(tmp_path / f"{part}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    rc, out, err = _run(["mnist", "train", "--data-dir", str(tmp_path), "--n-train", "40",
                         "--n-test", "20", "--channels", "3", "--epochs", "1", "--quiet"], capsys)
    assert rc == 0, err
    assert out.startswith("mnist: 40 train / 20 test images")


# ----------------------------------------------------------------------------------------
# weights files


def _bad_weights(tmp_path):
    from xordsim.mnist.net import ConvNet, save_network

    good = save_network(tmp_path / "good.npz", ConvNet.create(4, seed=0))
    raw = good.read_bytes()
    cases = {"missing": tmp_path / "missing.npz", "directory": tmp_path}
    (tmp_path / "trunc.npz").write_bytes(raw[: len(raw) // 2])
    cases["truncated"] = tmp_path / "trunc.npz"
    (tmp_path / "text.npz").write_text("network,filter,angle_deg\n")
    cases["not a zip"] = tmp_path / "text.npz"
    params = {k: v for k, v in ConvNet.create(4, seed=0).params.items()}
    np.savez(tmp_path / "nofc.npz", **{k: v for k, v in params.items() if k != "fc_b"})
    cases["missing array"] = tmp_path / "nofc.npz"
    np.savez(tmp_path / "int.npz", **{**params, "conv_w": np.ones((4, 3, 3), np.int64)})
    cases["wrong dtype"] = tmp_path / "int.npz"
    np.savez(tmp_path / "shape.npz", **{**params, "fc_w": params["fc_w"][:-1]})
    cases["wrong shape"] = tmp_path / "shape.npz"
    np.savez(tmp_path / "obj.npz", **{**params, "conv_b": np.array([None] * 4, dtype=object)})
    cases["object dtype"] = tmp_path / "obj.npz"
    np.savez(tmp_path / "nan.npz", **{**params, "fc_b": np.full(10, np.nan, np.float32)})
    cases["non-finite"] = tmp_path / "nan.npz"
    # an absurd declared shape: a header claiming 10^12 channels
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as zf:
        for name, a in params.items():
            header = {"descr": "<f4", "fortran_order": False,
                      "shape": (10**12, 3, 3) if name == "conv_w" else a.shape}
            import io

            buf = io.BytesIO()
            np.lib.format.write_array_header_1_0(buf, header)
            zf.writestr(name + ".npy", buf.getvalue() + b"\0" * 64)
    cases["absurd shape"] = tmp_path / "huge.npz"
    return good, cases


@pytest.mark.parametrize("command", ["cluster", "compress"])
def test_bad_weights_give_one_line(command, capsys, tmp_path):
    good, cases = _bad_weights(tmp_path)
    for what, path in cases.items():
        rc, _, err = _run(["mnist", command, "--weights", str(path), "--quiet",
                           "--small-channels" if command == "compress" else "--clusters", "2",
                           *(["--n-train", "50", "--n-test", "20"] if command == "compress"
                             else [])], capsys)
        assert rc == 2 and _one_line(err), (what, err)
        assert f"--weights {path}: not a network NPZ from 'mnist train' (" in err, (what, err)


def test_train_cluster_compress_roundtrip(tmp_path, capsys):
    seed = 2**70 + 3  # any integer >= 0, recorded exactly
    out_dir = tmp_path / "new" / "out"
    rc, out, err = _run(["mnist", "train", *TINY, "--seed", str(seed), "--out", str(out_dir)],
                        capsys)
    assert rc == 0 and "test error" in out, err
    summary = json.loads((out_dir / "mnist_train.json").read_text())
    assert summary["channels"] == 6 and 0 <= summary["test_error"] <= 1
    assert summary["seed"] == seed and summary["config"]["seed"] == seed
    assert summary["net"] == {"channels": 6, "filter_size": 3, "init_scale": 0.1}
    npz = out_dir / "mnist_net.npz"
    rc, out, err = _run(["mnist", "cluster", "--clusters", "2", "--weights", str(npz),
                         "--seed", str(seed), "--out", str(tmp_path)], capsys)
    assert rc == 0 and "random" in out, err
    assert (tmp_path / "mnist_cluster.csv").read_text().startswith("network,filter,angle_deg")
    assert json.loads((tmp_path / "mnist_cluster.json").read_text())["seed"] == seed
    rc, out, err = _run(["mnist", "compress", "--n-train", "100", "--n-test", "50", "--epochs",
                         "1", "--quiet", "--small-channels", "2", "--weights", str(npz),
                         "--out", str(tmp_path)], capsys)
    assert rc == 0 and "2-channel net" in out, err
    rc, _, err = _run(["mnist", "cluster", "--weights", str(tmp_path / "mnist_cluster.csv")],
                      capsys)
    assert rc == 2 and "not a network NPZ" in err
    rc, _, err = _run(["mnist", "cluster", "--clusters", "7", "--weights", str(npz)], capsys)
    assert rc == 2 and "--clusters must be at most the 6 channels" in err


def test_cluster_and_compress_train_their_network(tmp_path, capsys):
    rc, out, err = _run(["mnist", "cluster", *TINY, "--clusters", "2"], capsys)
    assert rc == 0 and "random" in out, err
    rc, out, err = _run(["mnist", "compress", *TINY, "--small-channels", "2", "--out",
                         str(tmp_path)], capsys)
    assert rc == 0 and "6-channel net" in out, err
    res = json.loads((tmp_path / "mnist_compress.json").read_text())
    assert res["net"]["channels"] == 6 and res["center_norm"] == "raw"


# ----------------------------------------------------------------------------------------
# import-light, help


def test_building_the_parsers_imports_nothing_heavy():
    code = ("import sys\n"
            "from xordsim.cli._common import OneLineParser\n"
            "from xordsim.cli import mnist, data\n"
            "p = OneLineParser(prog='xordsim')\n"
            "sub = p.add_subparsers(dest='command', parser_class=OneLineParser)\n"
            "mnist.add_parser(sub); data.add_parser(sub)\n"
            "for argv in (['mnist', 'train', '--help'], ['mnist', 'cluster', '--help'],\n"
            "             ['data', 'fetch', '--help']):\n"
            "    try:\n"
            "        p.parse_args(argv)\n"
            "    except SystemExit:\n"
            "        pass\n"
            "heavy = ('numpy', 'scipy', 'matplotlib', 'sklearn', 'numba', 'mlxtend', 'tqdm')\n"
            "print('HEAVY=' + ','.join(m for m in heavy if m in sys.modules))\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert res.stdout.strip().splitlines()[-1] == "HEAVY="
    assert "--channels CHANNELS" in res.stdout and "--clusters CLUSTERS" in res.stdout


def test_help_lists_only_the_options_of_each_command(capsys):
    for command, present, absent in [
        ("train", ["--out DIR", "--channels CHANNELS", "--lr LR"],
         ["--weights NPZ", "--clusters", "--small-channels"]),
        ("cluster", ["--clusters CLUSTERS", "--weights NPZ", "--channels CHANNELS"],
         ["--small-channels", "--center-norm"]),
        ("compress", ["--small-channels SMALL_CHANNELS", "--center-norm", "--weights NPZ"],
         ["--clusters"]),
    ]:
        with pytest.raises(SystemExit):
            _parser().parse_args(["mnist", command, "--help"])
        text = capsys.readouterr().out
        assert all(o in text for o in present) and not any(o in text for o in absent), command


# ----------------------------------------------------------------------------------------
# the figures (through the top-level CLI)


def _cli_main(argv, capsys):
    from xordsim import cli

    try:
        rc = cli.main(argv)
    except SystemExit as exc:
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["figure", "fig4a", "--set", "channels=-1"], "channels must be"),
        (["figure", "fig4b", "--set", "nope=1"], "unknown key"),
        (["figure", "fig4b", "--set", "lr=0"], "lr must be"),
    ],
)
def test_figure_bad_settings(argv, message, capsys):
    rc, out, err = _cli_main(argv, capsys)
    assert rc == 2 and message in err and _one_line(err)


def test_figures_tiny(tmp_path, capsys):
    sets = ["--set", "n_train=200", "--set", "n_test=100", "--set", "epochs=1",
            "--set", "min_steps=0", "--set", "batch_size=50"]
    rc, out, _ = _cli_main(["figure", "fig4a", "--out", str(tmp_path), "--quiet", *sets,
                            "--set", "channels=8", "--set", "clusters=2"], capsys)
    assert rc == 0
    names = {p.split("/")[-1] for p in out.split()}
    assert names == {"fig4a.png", "fig4a.svg", "fig4a.csv", "fig4a_summary.csv", "fig4a.json"}
    side = json.loads((tmp_path / "fig4a.json").read_text())
    assert "Mann-Whitney" in side["caption"] and side["settings"]["channels"] == 8
    rows = (tmp_path / "fig4a.csv").read_text().splitlines()
    assert rows[0] == "network,filter,angle_deg" and len(rows) == 17
    # the run time is in the sidecar only: the same seed redraws byte-identical CSVs
    assert side["seconds"] > 0
    first = {n: (tmp_path / n).read_bytes() for n in ("fig4a.csv", "fig4a_summary.csv")}
    again = tmp_path / "again"
    rc, _, _ = _cli_main(["figure", "fig4a", "--out", str(again), "--quiet", *sets,
                          "--set", "channels=8", "--set", "clusters=2"], capsys)
    assert rc == 0 and all((again / n).read_bytes() == b for n, b in first.items())
    rc, out, _ = _cli_main(["figure", "fig4b", "--out", str(tmp_path), "--quiet", *sets,
                            "--set", "train_sizes=50,100", "--set", "seeds=2",
                            "--set", "large_channels=6", "--set", "small_channels=2"], capsys)
    assert rc == 0
    rows = (tmp_path / "fig4b.csv").read_text().splitlines()
    assert rows[0] == "train_size,network,seed,test_error" and len(rows) == 1 + 3 * 2 * 2
    errs = np.array([float(r.split(",")[3]) for r in rows[1:]])
    assert np.all((errs >= 0) & (errs <= 1))
    assert json.loads((tmp_path / "fig4b.json").read_text())["settings"]["train_sizes"] == [50, 100]
    svg = (tmp_path / "fig4b.svg").read_text()
    assert "test error" in svg and "training-set size" in svg
