"""Figures on tiny settings, their CSVs against the engine, and ``reproduce`` end to end."""

import csv
import json
import re

import numpy as np
import pytest

from xordsim.cli import main
from xordsim.figures import SPECS, run_figure
from xordsim.figures.generalization import FIG1_COLUMNS, xord_point
from xordsim.seeds import substream

COLUMNS = {
    "fig1": FIG1_COLUMNS,
    "fig2": ["k", "replica", "filter", "j", "x_t0", "y_t0", "x_final", "y_final"],
    "fig3": ["k", "replica", "filter", "j", "x_t0", "y_t0", "x_final", "y_final",
             "recovers_f_star"],
    "margin": ["gamma", "k", "runs", "test_error_mean", "test_error_ci_low",
               "test_error_ci_high", "frac_zero_train"],
    "sample-complexity": ["k", "m", "replicas", "estimate", "ci_low", "ci_high", "bound",
                          "relation", "m2_bound", "p_plus", "p_minus", "p_star", "eps", "delta"],
    "dynamics": ["k", "t", "set", "mean_size", "mean_angle_deg"],
}


def read_csv(path):
    with open(path) as fh:
        return list(csv.DictReader(fh))


@pytest.mark.parametrize("name", list(SPECS))
def test_figure_writes_files_and_csv(name, tmp_path):
    spec = SPECS[name]
    paths = run_figure(spec, tmp_path, 3, spec.tiny)
    names = {p.name for p in paths}
    stem = name
    assert {f"{stem}.png", f"{stem}.svg", f"{stem}.csv", f"{stem}.json"} <= names
    for p in paths:
        assert p.exists() and p.stat().st_size > 0
    rows = read_csv(tmp_path / f"{stem}.csv")
    assert rows and list(rows[0]) == COLUMNS[name]
    side = json.loads((tmp_path / f"{stem}.json").read_text())
    assert side["seed"] == 3 and side["caption"]
    assert not list(tmp_path.glob(".*"))  # no temporary files left behind


def test_fig1_csv_matches_direct_engine_call(tmp_path):
    spec = SPECS["fig1"]
    run_figure(spec, tmp_path, 5, spec.tiny)
    rows = read_csv(tmp_path / "fig1.csv")
    s = dict(spec.defaults, **spec.tiny)
    k = s["ks"][1]
    res = xord_point(k, s, substream(5, "fig1", k))
    row = [r for r in rows if int(r["k"]) == k][0]
    assert float(row["test_error_mean"]) == pytest.approx(res.test_error.mean(), rel=1e-7)
    assert int(row["zero_train_runs"]) == int((res.train_error == 0).sum())


def test_figure_cli_and_bad_settings(tmp_path, capsys):
    code = main(["figure", "fig2", "--out", str(tmp_path), "--quiet", "--set", "runs=3",
                 "--set", "steps=50"])
    assert code == 0 and (tmp_path / "fig2.png").exists()
    for args, needle in ((["figure", "nope"], "figure"),
                         (["figure", "fig1", "--set", "bogus=1"], "bogus"),
                         (["figure", "fig1", "--set", "runs=abc"], "runs"),
                         (["figure", "fig1", "--set", "runs=0"], "runs")):
        capsys.readouterr()
        assert main(args + ["--out", str(tmp_path)]) == 2
        err = capsys.readouterr().err
        assert needle in err and len(err.strip().splitlines()) == 1


def test_reproduce_tiny_writes_report_and_is_deterministic(tmp_path):
    out1, out2 = tmp_path / "a", tmp_path / "b"
    for out in (out1, out2):
        assert main(["reproduce", "--tiny", "--quiet", "--out", str(out)]) == 0
    for name in SPECS:
        for suffix in (".png", ".svg", ".csv", ".json"):
            assert (out1 / f"{name}{suffix}").exists()
    assert (out1 / "theorems.json").exists() and (out1 / "report.md").exists()
    report = (out1 / "report.md").read_text()
    html = (out1 / "report.html").read_text()
    assert "TINY" in report and "seed 0" in report
    links = re.findall(r"\]\(([^)]+)\)", report) + re.findall(r"href='([^']+)'", html)
    assert links
    for link in links:
        assert (out1 / link).exists(), link
    assert "data:image/png;base64," in html
    for name in SPECS:  # same seed -> identical numbers
        assert (out1 / f"{name}.csv").read_bytes() == (out2 / f"{name}.csv").read_bytes()
    rows1 = json.loads((out1 / "theorems.json").read_text())["rows"]
    rows2 = json.loads((out2 / "theorems.json").read_text())["rows"]
    assert [r["estimate"] for r in rows1] == [r["estimate"] for r in rows2]


def test_reproduce_resumes_finished_stages(tmp_path):
    out = tmp_path / "r"
    assert main(["reproduce", "--tiny", "--quiet", "--out", str(out)]) == 0
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("*.csv")}
    (out / "fig2.csv").unlink()  # an interrupted or damaged stage is recomputed
    assert main(["reproduce", "--tiny", "--quiet", "--out", str(out)]) == 0
    after = {p.name: p.stat().st_mtime_ns for p in out.glob("*.csv")}
    assert after["fig1.csv"] == before["fig1.csv"]
    assert (out / "fig2.csv").exists()
    assert np.isfinite(float(read_csv(out / "fig1.csv")[0]["test_error_mean"]))
