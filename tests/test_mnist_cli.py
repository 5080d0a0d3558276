"""``xordsim mnist ...``, ``xordsim data ...`` and ``xordsim figure fig4a|fig4b`` from main()."""

import json

import numpy as np
import pytest

from xordsim import cli

TINY = ["--n-train", "100", "--n-test", "50", "--channels", "6", "--epochs", "1", "--quiet"]


def _run(argv, capsys):
    try:
        rc = cli.main(argv)
    except SystemExit as exc:  # argparse errors
        rc = exc.code
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["mnist", "train", "--bogus"], "unrecognized arguments"),
        (["mnist", "train", "--channels", "-3"], "channels must be in"),
        (["mnist", "train", "--lr", "0"], "lr must be a finite number in (0"),
        (["mnist", "train", "--lr", "abc"], "invalid float value"),
        (["mnist", "train", "--epochs", "0"], "epochs must be in"),
        (["mnist", "train", "--optimizer", "rmsprop"], "optimizer must be one of"),
        (["mnist", "train", "--dataset", "cifar"], "dataset must be one of"),
        (["mnist", "cluster", "--clusters", "0", *TINY], "clusters must be in"),
        (["mnist", "compress", "--center-norm", "x"], "center_norm must be one of"),
        (["mnist"], "required"),
        (["mnist", "fly"], "invalid choice"),
        (["data", "fetch", "cifar", "--dir", "x"], "dataset must be one of"),
        (["data", "fetch", "mnist"], "--dir"),
        (["figure", "fig4a", "--set", "channels=-1"], "channels must be in"),
        (["figure", "fig4b", "--set", "nope=1"], "unknown key"),
        (["figure", "fig4b", "--set", "lr=0"], "lr must be"),
    ],
)
def test_bad_input_exits_2_with_one_line(argv, message, capsys):
    rc, out, err = _run(argv, capsys)
    assert rc == 2
    assert message in err
    assert err.count("\n") == 1 and err.endswith("\n")


def test_train_cluster_compress_roundtrip(tmp_path, capsys):
    rc, out, _ = _run(["mnist", "train", *TINY, "--out", str(tmp_path)], capsys)
    assert rc == 0 and "test error" in out
    summary = json.loads((tmp_path / "mnist_train.json").read_text())
    assert summary["channels"] == 6 and 0 <= summary["test_error"] <= 1
    npz = tmp_path / "mnist_net.npz"
    rc, out, _ = _run(["mnist", "cluster", *TINY, "--clusters", "2", "--weights", str(npz),
                       "--out", str(tmp_path)], capsys)
    assert rc == 0 and "random" in out
    assert (tmp_path / "mnist_cluster.csv").read_text().startswith("network,filter,angle_deg")
    rc, out, _ = _run(["mnist", "compress", *TINY, "--small-channels", "2", "--weights",
                       str(npz), "--out", str(tmp_path)], capsys)
    assert rc == 0 and "2-channel net" in out
    rc, _, err = _run(["mnist", "cluster", "--weights", str(tmp_path / "mnist_cluster.csv"),
                       *TINY], capsys)
    assert rc == 2 and "not a network NPZ" in err


def test_figures_tiny(tmp_path, capsys):
    sets = ["--set", "n_train=200", "--set", "n_test=100", "--set", "epochs=1",
            "--set", "min_steps=0", "--set", "batch_size=50"]
    rc, out, _ = _run(["figure", "fig4a", "--out", str(tmp_path), "--quiet", *sets,
                       "--set", "channels=8", "--set", "clusters=2"], capsys)
    assert rc == 0
    names = {p.split("/")[-1] for p in out.split()}
    assert names == {"fig4a.png", "fig4a.svg", "fig4a.csv", "fig4a_summary.csv", "fig4a.json"}
    side = json.loads((tmp_path / "fig4a.json").read_text())
    assert "Mann-Whitney" in side["caption"] and side["settings"]["channels"] == 8
    rows = (tmp_path / "fig4a.csv").read_text().splitlines()
    assert rows[0] == "network,filter,angle_deg" and len(rows) == 17
    rc, out, _ = _run(["figure", "fig4b", "--out", str(tmp_path), "--quiet", *sets,
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
