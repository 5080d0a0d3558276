"""Bad input, generated from the declarations: exit 2, one line naming the option, no
traceback, and no file left behind -- for every command and option.

The cases come from the same :class:`xordsim._validate.Param` declarations that validate
and document the options (``Param.bad_values()``), so a new option is covered the day it
is declared. Output locations are checked before any computation.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from xordsim.cli import main
from xordsim.config import GDConfig
from xordsim.figures.registry import FIGURES
from xordsim.theorems.specs import SPECS as THEOREMS


def run_cli(argv, capsys) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:  # argparse's own errors (unknown option ...)
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def cwd(tmp_path, monkeypatch):
    """Run in an empty directory, so that any file left behind is seen."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def assert_rejected(code, err, needle, where: Path | None = None):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert needle in lines[0], (needle, err)
    assert lines[0].startswith("xordsim"), err
    if where is not None:
        assert sorted(os.listdir(where)) == [], f"left behind: {os.listdir(where)}"


# ----------------------------------------------------------------------------------------
# every option of every command, every bad value of its declaration

TRAIN_CASES = [(p.option, bad) for p in GDConfig.params().values() for bad in p.bad_values()]


@pytest.mark.parametrize("option,bad", TRAIN_CASES)
def test_train_option_bad_values(option, bad, cwd, capsys):
    argv = ["train", "--replicas", "2", "--steps", "1", "--save", "out.npz", option, bad]
    code, _, err = run_cli(argv, capsys)
    assert_rejected(code, err, option, cwd)


THEOREM_CASES = [(name, key, bad) for name, spec in THEOREMS.items()
                 for key, p in spec.params.items() for bad in p.bad_values()]


@pytest.mark.parametrize("name,key,bad", THEOREM_CASES)
def test_theorems_set_bad_values(name, key, bad, cwd, capsys):
    argv = ["theorems", "--only", name, "--replicas", "2", "--json", "rows.json",
            "--set", f"{key}={bad}", "--quiet"]
    code, _, err = run_cli(argv, capsys)
    assert_rejected(code, err, key, cwd)


FIGURE_CASES = [(name, key, bad) for name, spec in FIGURES.items()
                for key, p in spec.schema.items() for bad in p.bad_values()]


@pytest.mark.parametrize("name,key,bad", FIGURE_CASES)
def test_figure_set_bad_values(name, key, bad, cwd, capsys):
    argv = ["figure", name, "--out", "figs", "--set", f"{key}={bad}", "--quiet"]
    code, _, err = run_cli(argv, capsys)
    assert_rejected(code, err, key, cwd)


SEED_COMMANDS = [["train", "--replicas", "2", "--steps", "1"],
                 ["theorems", "--only", "lemma3.1", "--replicas", "2", "--quiet"],
                 ["figure", "fig2", "--out", "figs", "--tiny", "--quiet"],
                 ["reproduce", "--out", "res", "--tiny", "--quiet"]]


@pytest.mark.parametrize("argv", SEED_COMMANDS, ids=lambda a: a[0])
@pytest.mark.parametrize("bad", ["-1", "1.5", "abc", "", "nan", "inf", "-inf", "1e400"])
def test_seed_bad_values(argv, bad, cwd, capsys):
    code, _, err = run_cli([*argv, "--seed", bad], capsys)
    assert_rejected(code, err, "--seed", cwd)


@pytest.mark.parametrize("argv", SEED_COMMANDS, ids=lambda a: a[0])
@pytest.mark.parametrize("bad", ["0", "-1", "abc", "100000"])
def test_threads_bad_values(argv, bad, cwd, capsys):
    code, _, err = run_cli([*argv, "--threads", bad], capsys)
    assert_rejected(code, err, "--threads", cwd)


@pytest.mark.parametrize("bad", ["0", "-3", "abc", "1e400", "nan", "1.5", str(10**12)])
def test_theorems_replicas_bad_values(bad, cwd, capsys):
    code, _, err = run_cli(["theorems", "--only", "lemma3.1", "--replicas", bad], capsys)
    assert_rejected(code, err, "--replicas", cwd)


@pytest.mark.parametrize("argv,needle", [
    (["theorems", "--only", "lemma9.9"], "--only"),
    (["theorems", "--set", "k"], "--set"),
    (["theorems", "--set", "nokey=1"], "nokey"),
    (["theorems", "--set", "a_convention=updates"], "a_convention"),  # not a key of every one
    (["figure", "nofigure"], "invalid choice"),
    (["figure", "fig1", "--set", "nokey=3"], "nokey"),
    (["figure", "fig1", "--set", "=3"], "--set"),
    (["train", "--bogus"], "unrecognized arguments"),
    (["nocommand"], "invalid choice"),
    ([], "required"),
])
def test_unknown_names(argv, needle, cwd, capsys):
    code, _, err = run_cli(argv, capsys)
    assert_rejected(code, err, needle, cwd)


DASK_COMMANDS = [["figure", "fig1", "--out", "figs", "--tiny", "--quiet"],
                 ["figure", "sample-complexity", "--out", "figs", "--tiny", "--quiet"],
                 ["reproduce", "--out", "res", "--tiny", "--quiet"]]


@pytest.mark.parametrize("argv", DASK_COMMANDS, ids=lambda a: " ".join(a[:2]))
@pytest.mark.parametrize("bad", ["local:0", "local:-1", "local:x", "local:", "local:1025",
                                 "nope", "tcp://host", "http://host:8786"])
def test_dask_bad_values(argv, bad, cwd, capsys, monkeypatch):
    monkeypatch.delenv("XORDSIM_DASK_SCHEDULER", raising=False)
    code, _, err = run_cli([*argv, "--dask", bad], capsys)
    assert_rejected(code, err, "--dask", cwd)
    assert "local:N" in err


def test_dask_bad_scheduler_variable(cwd, capsys, monkeypatch):
    monkeypatch.setenv("XORDSIM_DASK_SCHEDULER", "nope")
    code, _, err = run_cli(DASK_COMMANDS[0], capsys)
    assert_rejected(code, err, "$XORDSIM_DASK_SCHEDULER", cwd)


def test_dask_on_a_figure_that_is_not_a_sweep(cwd, capsys):
    code, _, err = run_cli(["figure", "fig2", "--out", "figs", "--dask", "local:2"], capsys)
    assert_rejected(code, err, "unrecognized arguments: --dask", cwd)


# ----------------------------------------------------------------------------------------
# the cases a new user hit (issue 10)

@pytest.mark.parametrize("argv,needle", [
    (["--k", "1e20"], "--k"),
    (["--k", str(10**20)], "--k"),
    (["--d", "1e12"], "--d"),
    (["--m", "1e12"], "--m"),
    (["--replicas", "1e8"], "--replicas"),            # within range, refused for memory
    (["--k", "1000000", "--replicas", "100000"], "--"),  # memory: names one option
    (["--steps", "1e20"], "--steps"),
    (["--seed", "-1"], "--seed"),
    (["--gamma", "-inf"], "--gamma"),
    (["--gamma", "-1e5"], "--gamma"),
    (["--gamma", "nan"], "--gamma"),
    (["--problem", "xor", "--prior-pos", "0.9"], "--prior-pos"),
    (["--problem", "xor", "--distribution", "pattern:0.25,0.25,0.25,0.25"], "--distribution"),
    (["--problem", "xor", "--data", "shared"], "--data"),
    (["--lr", "0.1", "--c-eta", "0.1"], "--lr"),
    (["--data", "decoy", "--m", "3"], "--m"),
    (["--data", "decoy", "--d", "3"], "--d"),
    (["--save", ""], "--save"),
    (["--save", "out.txt"], "--save"),
    (["--distribution", "pattern:1,0,0,0"], "--distribution"),
    (["--distribution", "pattern:nan,0.5,0.25,0.25"], "--distribution"),
    (["--distribution", "nofile.json"], "--distribution"),
])
def test_train_reported_cases(argv, needle, cwd, capsys):
    code, _, err = run_cli(["train", "--replicas", "2", "--steps", "1", *argv], capsys)
    assert_rejected(code, err, needle, cwd)


@pytest.mark.parametrize("content", [
    '{"pos": {"0,1": 1.0}, "neg": {"2": 1.0}}',            # pattern index 0
    '{"pos": {"1,2,2": 1.0}, "neg": {"2": 1.0}}',          # a repeated index
    '{"pos": {"1,5": 1.0}, "neg": {"2": 1.0}}',
    '{"pos": {"1": 0.5, "1": 0.5}, "neg": {"2": 1.0}}',   # JSON keeps the last: sums to 0.5
    '{"pos": {"1": 0.5, "3": 0.6}, "neg": {"2": 1.0}}',
    '{"pos": {"2": 1.0}, "neg": {"2": 1.0}}',              # wrong label under f*
    '{"pos": {"1": -1, "3": 2}, "neg": {"2": 1.0}}',
    '{"pos": {"1": "a"}, "neg": {"2": 1.0}}',
    '{"pos": {"1": NaN}, "neg": {"2": 1.0}}',
    '{"pos": {"1": 1.0}}',
    '{"pos": {"1": 1.0}, "neg": {"2": 1.0}, "extra": 1}',
    '{"pos": [1], "neg": {"2": 1.0}}',
    '[1, 2]',
    '{not json',
    '',
    '\x00\xff\xfe',
    '[' * 100000,
])
def test_distribution_file_malformed(content, cwd, capsys):
    path = cwd / "dist.json"
    path.write_text(content, errors="surrogateescape")
    code, _, err = run_cli(["train", "--replicas", "2", "--steps", "1", "--save", "o.npz",
                            "--distribution", str(path)], capsys)
    assert_rejected(code, err, "--distribution")
    assert sorted(os.listdir(cwd)) == ["dist.json"]


def test_distribution_is_a_directory(cwd, capsys):
    (cwd / "d.json").mkdir()
    code, _, err = run_cli(["train", "--distribution", "d.json"], capsys)
    assert_rejected(code, err, "--distribution")


# ----------------------------------------------------------------------------------------
# unwritable output locations, checked before any computation

def _under_file(cwd: Path, name: str) -> str:
    (cwd / "afile").write_text("x")
    return str(cwd / "afile" / name)


def _readonly_dir(cwd: Path, name: str) -> str:
    """A directory this process cannot write: a 0o555 folder, or /proc for root (whom
    file modes do not stop)."""
    if os.geteuid() == 0:
        return f"/proc/{name}"
    ro = cwd / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    return str(ro / name)


OUTPUTS = {
    "train --save": (["train", "--replicas", "2", "--steps", "1", "--save"], "x.npz", "--save"),
    "train --json": (["train", "--replicas", "2", "--steps", "1", "--json"], "x.json", "--json"),
    "theorems --json": (["theorems", "--only", "lemma3.1", "--replicas", "2", "--quiet",
                         "--json"], "x.json", "--json"),
    "figure --out": (["figure", "fig2", "--tiny", "--quiet", "--out"], "figs", "--out"),
    "reproduce --out": (["reproduce", "--tiny", "--quiet", "--out"], "res", "--out"),
}


@pytest.mark.parametrize("where", ["under_file", "readonly", "proc"])
@pytest.mark.parametrize("key", list(OUTPUTS))
def test_unwritable_outputs(key, where, cwd, capsys):
    argv, name, option = OUTPUTS[key]
    path = {"under_file": lambda: _under_file(cwd, name),
            "readonly": lambda: _readonly_dir(cwd, name),
            "proc": lambda: f"/proc/self/{name}"}[where]()
    before = sorted(os.listdir(cwd))
    code, out, err = run_cli([*argv, path], capsys)
    assert_rejected(code, err, option)
    assert out == ""  # nothing was computed
    assert sorted(os.listdir(cwd)) == before


def test_file_where_directory_expected(cwd, capsys):
    (cwd / "figs").write_text("x")
    code, _, err = run_cli(["figure", "fig2", "--tiny", "--quiet", "--out", "figs"], capsys)
    assert_rejected(code, err, "--out")
    code, _, err = run_cli(["reproduce", "--tiny", "--quiet", "--out", "figs"], capsys)
    assert_rejected(code, err, "--out")


def test_directory_where_file_expected(cwd, capsys):
    (cwd / "x.npz").mkdir()
    code, _, err = run_cli(["train", "--replicas", "2", "--steps", "1", "--save", "x.npz"],
                           capsys)
    assert_rejected(code, err, "--save")
