"""Estimators of xordsim.theorems: exact values, event functions, verdicts, small runs."""

import inspect
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from xordsim import config
from xordsim import theorems as th
from xordsim._validate import InputError
from xordsim.model import outputs_all_masks
from xordsim.patterns import A_MASKS, PATTERNS
from xordsim.theorems import estimators, specs

X = th.XOR_POINTS  # x1=(1,1), x2=(-1,1), x3=(-1,-1), x4=(1,-1)
P = PATTERNS.astype(float)


# ---------------------------------------------------------------- verdict logic


def test_verdict_lower_and_upper_bounds():
    assert th.verdict((0.2, 0.8), 0.75) == th.CONSISTENT
    assert th.verdict((0.2, 0.74), 0.75) == th.VIOLATED
    assert th.verdict((0.75, 0.75), 0.75) == th.CONSISTENT  # upper end not below the bound
    assert th.verdict((0.2, 0.74), 0.75, inside=False) == th.OUTSIDE
    assert th.verdict((0.3, 0.5), 0.4, "<=") == th.CONSISTENT
    assert th.verdict((0.41, 0.5), 0.4, "<=") == th.VIOLATED
    with pytest.raises(ValueError):
        th.verdict((0, 1), 0.5, "==")


def test_make_row_interval_and_notes():
    hits = np.array([True] * 70 + [False] * 30)
    row = th.make_row("x", {"k": np.int64(3), "ms": (1, 2)}, hits, 0.9, exact=0.99)
    assert row["estimate"] == 0.7 and row["replicas"] == 100
    assert row["ci"][0] < 0.7 < row["ci"][1]
    assert row["verdict"] == th.VIOLATED
    assert any("outside the 95% interval" in n for n in row["notes"])
    assert row["params"] == {"k": 3, "ms": [1, 2]}
    row = th.make_row("x", {}, hits, 0.9, violations=["k=2 < 120"])
    assert row["verdict"] == th.OUTSIDE


# ---------------------------------------------------------------- exact values


def _brute_lemma_3_1(k):
    """Sum the multinomial over the 4 cones of (w·x1>0, w·x2>0) for w, squared for u."""
    lo, hi = k / 2 - 2 * math.sqrt(k), k / 2 + 2 * math.sqrt(k)
    total = 0.0
    for a in range(k + 1):  # cone {1,2}
        for b in range(k + 1 - a):  # cone {2,3}
            for c in range(k + 1 - a - b):  # cone {3,4}
                d = k - a - b - c  # cone {4,1}
                sizes = (a + d, a + b, b + c, c + d)
                if all(lo <= s <= hi for s in sizes):
                    total += stats.multinomial.pmf([a, b, c, d], k, [0.25] * 4)
    return total**2


@pytest.mark.parametrize("k", [3, 9, 17])
def test_exact_lemma_3_1_matches_multinomial_sum(k):
    assert th.exact_lemma_3_1(k) == pytest.approx(_brute_lemma_3_1(k), rel=1e-9)


def test_exact_values_simple():
    assert th.exact_thm_3_4a(2) == 0.75
    assert th.exact_thm_3_4a(3) == pytest.approx(1 - 0.75**2)
    k = 120
    direct = sum(stats.binom.pmf(s, k, 0.5) for s in range(k + 1)
                 if abs(s - k / 2) <= 2 * math.sqrt(k))
    assert th.exact_lemma_6_1(k) == pytest.approx(direct)
    assert th.binom_central_prob(4, 0.0) == pytest.approx(stats.binom.pmf(2, 4, 0.5))


def test_sec31_sign_bits_are_independent(rng):
    """The derivation of the exact Lemma 3.1 value: [w·x1>0] and [w·x2>0] independent fair."""
    w = rng.standard_normal((200_000, 2))
    b1, b2 = w @ X[0] > 0, w @ X[1] > 0
    for v1 in (0, 1):
        for v2 in (0, 1):
            frac = np.mean((b1 == v1) & (b2 == v2))
            assert abs(frac - 0.25) < 0.005


def test_monte_carlo_agrees_with_exact():
    row, = th.estimate("lemma3.1", replicas=4000, seed=1, k=17)
    assert row["ci"][0] <= row["exact"] <= row["ci"][1]
    row, = th.estimate("lemma6.1", replicas=4000, seed=1, k=40)
    assert row["ci"][0] <= row["exact"] <= row["ci"][1]
    assert row["verdict"] == th.OUTSIDE  # k < 120
    a, b = th.estimate("thm3.4", replicas=4000, seed=2)
    assert a["exact"] == 0.75 and a["ci"][0] <= 0.75 <= a["ci"][1]
    assert a["verdict"] == th.CONSISTENT and b["name"] == "thm3.4b"
    a3, _ = th.estimate("thm3.4", replicas=4000, seed=3, k=3)
    assert a3["ci"][0] <= a3["exact"] <= a3["ci"][1] and a3["verdict"] == th.OUTSIDE


# ---------------------------------------------------------------- hand-built configurations


def _cones(counts, scale=1.0):
    """Filters with counts[c] filters in cone c of (0,1), (-1,0), (0,-1), (1,0)."""
    dirs = np.array([[0.1, 1], [-1, 0.1], [-0.1, -1], [1, -0.1]]) * scale
    return np.concatenate([np.repeat(dirs[c][None], n, axis=0) for c, n in enumerate(counts)])


def test_exploration_xor_event():
    good = _cones([5, 5, 5, 5])[None]
    assert th.exploration_xor_event(good, good).tolist() == [True]
    bad = _cones([20, 0, 0, 0])[None]  # |W0+(1)| = 20 > 10 + 2 sqrt(20)
    assert th.exploration_xor_event(bad, good).tolist() == [False]
    assert th.exploration_xor_event(good, bad).tolist() == [False]


def test_exploration_xord_event():
    k = 20
    balanced = np.concatenate([np.repeat(P[i][None], 5, axis=0) for i in range(4)])[None]
    assert th.exploration_xord_event(balanced).tolist() == [True]
    all_p1 = np.repeat(P[0][None], k, axis=0)[None]  # |W+(1) ∪ W+(3)| = 20, 10 > 2 sqrt(20)
    assert th.exploration_xord_event(all_p1).tolist() == [False]


def test_insufficient_exploration_event():
    spread = _cones([1, 0, 1, 0])  # one filter positive on x1, one on x3; on x2: one each
    both_x1 = np.array([[0.1, 1.0], [1.0, -0.1]])  # both have w·x1 > 0: W0+(3) empty
    assert th.insufficient_exploration_event(both_x1[None], spread[None]).tolist() == [True]
    u_spread = np.array([[-1.0, 0.1], [1.0, -0.1]])  # u·x2 > 0 for one, u·x4 > 0 for the other
    w_spread = np.array([[0.1, 1.0], [-0.1, -1.0]])
    assert th.insufficient_exploration_event(w_spread[None], u_spread[None]).tolist() == [False]
    u_same = np.array([[-1.0, 0.1], [-1.0, 0.3]])  # U0+(4) empty
    assert th.insufficient_exploration_event(w_spread[None], u_same[None]).tolist() == [True]


def test_clustering_event():
    eta = 0.01
    counts = np.array([[0, 1, 2, 3]])  # (R=1, S=4)
    v = np.array([0.001, 0.0015])  # v·x1 > 0, |v·x2| = 0.0005 < 2 eta
    ws = counts[..., None, None] * eta * X[0] + v  # (1, 4, 1, 2)
    members = np.array([[True]])
    assert th.clustering_event(ws, counts, members, X[0], X[1], eta).tolist() == [True]
    ws_bad = ws + np.array([-1, 1]) * 1.5 * eta  # |v·x2| = 3 eta at every step
    assert th.clustering_event(ws_bad, counts, members, X[0], X[1], eta).tolist() == [False]
    # a violation by a non-member does not count
    assert th.clustering_event(ws_bad, counts, ~members, X[0], X[1], eta).tolist() == [True]
    # off-by-one in the count (the literal 'inclusive' a(t)) breaks v·x1 > 0
    assert th.clustering_event(ws, counts + 1, members, X[0], X[1], eta).tolist() == [False]


def test_angle_event():
    w = np.array([[[1.0, 1.1], [0.0, 1.0]]])
    members = np.array([[True, False]])
    assert th.angle_event(w, members, X[0], math.radians(10)).tolist() == [True]
    assert th.angle_event(w, ~members, X[0], math.radians(10)).tolist() == [False]


def test_misclassifies_some_a():
    ideal = outputs_all_masks(np.array([3 * P[0], 3 * P[2]]), np.array([P[1], P[3]]))
    assert th.misclassifies_some_a(ideal).tolist() == [False]
    decoy = outputs_all_masks(np.array([3 * P[0], 3 * P[0]]), np.array([P[1], P[1]]))
    assert th.misclassifies_some_a(decoy).tolist() == [True]
    assert decoy[0, A_MASKS[1]] <= 0  # {4} gets no negative output


# ---------------------------------------------------------------- Theorem 6.5


def test_thm_6_5_distribution_parameters():
    for p in (0.92, 0.98, 0.5):
        dist = th.thm_6_5_distribution(p, p)
        assert dist.p_plus == pytest.approx(p) and dist.p_minus == pytest.approx(p)
        assert dist.p_star == pytest.approx((1 - p) / 4)
    dist = th.thm_6_5_distribution(0.9, 0.8)
    assert dist.p_star == pytest.approx(min(0.1, 0.2) / 4)


def test_paper_sample_complexity_examples():
    assert math.floor(th.m2_lower_bound(0.98, 0.98, 0.05)) == 129
    assert math.floor(th.m2_lower_bound(0.92, 0.92, 0.16)) == 17
    # the first example's delta condition: 1 - 0.98^2 (1 - c - 16 e^-8) <= 0.05
    assert 1 - 0.98**2 * (1 - 1e-10 - 16 * math.exp(-8)) <= 0.05
    assert 1 - 0.92**2 * (1 - 1e-10 - 16 * math.exp(-8)) <= 0.16


def test_thm_6_5_rows_small():
    rows = th.estimate("thm6.5", replicas=30, seed=0, ms=(1,), steps=20000)
    assert [r["params"]["k"] for r in rows] == [120, 2]
    assert [r["relation"] for r in rows] == [">=", "<="]
    assert rows[0]["verdict"] == th.OUTSIDE  # steps below Theorem 6.3's T
    rows = th.estimate("thm6.5", replicas=30, seed=0, ms=(2,), eps=0.5)
    assert all("eps=0.5 >= p*" in r["notes"][-1] for r in rows)


# ---------------------------------------------------------------- each estimator, small


@pytest.mark.parametrize("name,params", [
    ("lemma3.2", {}),
    ("thm3.3", {}),
    ("lemma6.2", {"k": 120}),
    ("thm6.3", {}),
    ("thm6.4", {}),
])
def test_estimators_small(name, params):
    rows = th.estimate(name, replicas=12, seed=0, **params)
    for row in rows:
        assert row["ci"][0] <= row["estimate"] <= row["ci"][1]
        assert row["verdict"] in (th.CONSISTENT, th.VIOLATED, th.OUTSIDE)
        assert row["replicas"] == 12
    if name in ("lemma3.2", "thm3.3", "lemma6.2", "thm6.3"):
        assert rows[0]["estimate"] == 1.0 and rows[0]["verdict"] == th.CONSISTENT


def test_lemma_3_2_literal_convention_fails():
    row, = th.estimate("lemma3.2", replicas=10, seed=0, a_convention="inclusive")
    assert row["estimate"] == 0.0 and row["verdict"] == th.VIOLATED


def test_outside_assumptions_and_bad_input():
    row, = th.estimate("thm3.3", replicas=10, seed=0, c_eta=0.6)
    assert row["verdict"] == th.OUTSIDE and "c_eta=0.6 >= 1/2" in row["notes"][-1]
    with pytest.raises(InputError):
        th.estimate("thm3.3", replicas=10, k=0)
    with pytest.raises(InputError):
        th.estimate("thm3.3", replicas=10, gamma=3.0)
    with pytest.raises(InputError):
        th.estimate("nope")
    with pytest.raises(InputError):
        th.resolve(["lemma3.1", "nope"])
    with pytest.raises(InputError, match="lemma3.1: --set: unknown key .c_eta.; allowed: k$"):
        th.parse_overrides(th.resolve(["lemma3.1", "thm3.4"]), ["c_eta=0.1"])
    assert th.parse_overrides(th.resolve(["thm3.3"]), ["k=20"]) == {"thm3.3": {"k": 20}}
    assert th.parse_overrides(["thm3.3"], ["k=20"]) == {"thm3.3": {"k": 20}}  # names work too
    assert list(th.parse_overrides(None, [])) == list(th.SPECS)


def test_run_all_is_deterministic_and_selective():
    a = th.run_all(["lemma3.1", "lemma6.1"], replicas=200, seed=5)
    b = th.run_all(["lemma6.1"], replicas=200, seed=5)
    assert [r["name"] for r in a] == ["lemma3.1", "lemma6.1"]
    assert a[1]["estimate"] == b[0]["estimate"] and a[1]["ci"] == b[0]["ci"]
    c = th.run_all(["lemma6.1"], replicas=200, seed=5, overrides=["k=130"])
    assert c[0]["params"] == {"k": 130}
    assert "lemma3.1" in th.format_table(a)


# ---------------------------------------------------------------- declarations (specs)


def test_specs_import_without_numpy():
    code = ("import sys, xordsim.theorems.specs as s, xordsim.theorems as th; "
            "s.settings_help(); th.resolve(['thm6.5']); th.parse_overrides(th.resolve(None), "
            "['k=130']); heavy = [m for m in ('numpy', 'scipy', 'numba', 'tqdm', "
            "'xordsim.engine', 'xordsim.theorems.estimators') if m in sys.modules]; "
            "print(heavy); assert not heavy, heavy")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr + out.stdout


def test_lazy_names_and_all():
    for name in th.__all__:
        assert getattr(th, name) is not None
    assert set(th.__all__) <= set(dir(th))
    with pytest.raises(AttributeError):
        th.no_such_name  # noqa: B018


def test_resolve_uses_specs():
    assert th.SPECS is specs.SPECS
    assert [s.name for s in th.resolve()] == list(specs.SPECS)
    assert th.resolve(["thm6.3", "lemma3.1"]) == [specs.SPECS["lemma3.1"], specs.SPECS["thm6.3"]]
    for spec in specs.SPECS.values():
        assert callable(spec.load())  # every estimator string resolves
        assert spec.check(spec.defaults) == spec.defaults  # defaults are allowed values


def test_shared_parameters_are_gdconfig_declarations():
    gd = config.GDConfig.params()
    for spec in specs.SPECS.values():
        for key, p in spec.params.items():
            if key in gd:
                assert (p.kind, p.high) == (gd[key].kind, gd[key].high), (spec.name, key)
    assert specs.SPECS["thm6.3"].params["d"].low == 4
    assert specs.SPECS["thm3.4"].params["steps"].low == 1
    assert specs.SPECS["thm6.5"].params["ms"].kind == "ints"
    assert specs.SPECS["lemma3.2"].params["a_convention"].choices == ("updates", "inclusive")


def test_settings_help_lists_every_result_and_key():
    text = specs.settings_help()
    for spec in specs.SPECS.values():
        assert f"{spec.name} ({spec.result})" in text
        block = spec.help()
        for key, p in spec.params.items():
            assert f"  {key}" in block and p.describe() in block
    assert "(default: 1,16,64)" in text and "one of updates, inclusive" in text


def _raw(value) -> str:
    """A value as typed after --set KEY= (floats by repr, so they round-trip exactly)."""
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return repr(value) if isinstance(value, float) else str(value)


_KEYS = [(spec.name, key) for spec in specs.SPECS.values() for key in spec.params]


@pytest.mark.parametrize("name,key", _KEYS)
def test_every_set_key_accepts_default_and_rejects_bad_values(name, key):
    spec = specs.SPECS[name]
    p = spec.params[key]
    got = th.parse_overrides([spec], [f"{key}={_raw(p.default)}"])
    assert got == {name: {key: p.default}}
    assert spec.check({key: p.default}) == {key: p.default}
    assert th.check_overrides([spec], {name: {key: p.default}}) == {name: {key: p.default}}
    for bad in p.bad_values():
        with pytest.raises(InputError) as info:
            th.parse_overrides([spec], [f"{key}={bad}"])
        msg = str(info.value)
        assert f"--set {key}" in msg and name in msg and "\n" not in msg, (bad, msg)


def test_python_overrides_checked_before_running():
    with pytest.raises(InputError, match="thm3.3: k must be"):
        th.estimate("thm3.3", replicas=10, k=0)
    with pytest.raises(InputError, match="thm6.3: d must be"):
        th.estimate("thm6.3", replicas=10, d=3)
    with pytest.raises(InputError, match="unknown parameter 'gamma'; allowed: k, c_eta"):
        th.estimate("thm3.3", replicas=10, gamma=3.0)
    with pytest.raises(InputError, match="a_convention must be one of"):
        th.estimate("lemma3.2", replicas=10, a_convention="literal")
    with pytest.raises(InputError, match="ms must be in"):
        th.run_all(["lemma3.1", "thm6.5"], replicas=10, overrides={"thm6.5": {"ms": (0,)}})
    with pytest.raises(InputError, match="unknown result in overrides 'thm9'"):
        th.run_all(["lemma3.1"], replicas=10, overrides={"thm9": {}})
    with pytest.raises(InputError, match="--set: unknown key 'gamma'; allowed: k"):
        th.run_all(None, replicas=10, overrides=["gamma=9"])


def test_estimators_build_configs():
    xor = specs.SPECS["thm3.3"].defaults
    cfg, v = estimators.xor_config(xor, 7)
    assert v == [] and cfg.problem == "xor" and cfg.replicas == 7
    assert cfg.steps == config.theorem_3_3_steps(50, 0.1) == 369
    assert cfg.init_std == config.default_init_std(50, 0.1) and cfg.eta == 0.1 / 50
    cfg, v = estimators.xor_config(dict(xor, k=10, steps=40, init_std=1.0))
    assert cfg.steps == 40 and cfg.sigma_g == 1.0
    assert v[0] == "k=10 <= 16" and v[-1].startswith("init_std=1 >")
    xord = specs.SPECS["thm6.3"].defaults
    cfg, v = estimators.xord_config(xord)
    assert v == [] and (cfg.problem, cfg.k, cfg.d, cfg.margin) == ("xord", 120, 4, 8.0)
    assert cfg.steps == config.theorem_6_3_steps(8.0, 1 / 410) == 103544
    assert cfg.sigma_g == config.default_init_std(120, 1 / 410)
    _, v = estimators.xord_config(dict(xord, k=2, gamma=4.0), k_min=None, k_eq=2)
    assert v == ["gamma=4 < 8"]


def test_no_retyped_formulas():
    """eta, sigma_g and the theorems' T come from xordsim.config, not retyped here."""
    src = "".join(inspect.getsource(m) for m in (estimators, specs, th.registry))
    for formula in ("c_eta / k", "/ (16 * k", "16 * math.sqrt(k)", "28 * (gamma",
                    "math.ceil(28"):
        assert formula not in src, formula


_REFERENCE = Path(__file__).parent / "data" / "theorems_reference.json"


@pytest.mark.parametrize("run", range(2))
def test_numbers_identical_to_reference(run):
    """Rows computed before the estimators took a GDConfig: the same seed, the same bits."""
    ref = json.loads(_REFERENCE.read_text())["runs"][run]
    call = dict(ref["call"])
    call["overrides"] = {name: {k: tuple(v) if isinstance(v, list) else v
                                for k, v in o.items()} for name, o in call["overrides"].items()}
    rows = th.run_all(**call)
    assert [r["name"] for r in rows] == [r["name"] for r in ref["rows"]]
    for got, want in zip(rows, ref["rows"], strict=True):
        got = json.loads(json.dumps({k: got[k] for k in want}))
        # the Clopper-Pearson ends are now closed-form beta quantiles instead of SciPy's
        # root finding: equal to 1e-12, not to the bit; everything simulated is bit-identical
        assert got.pop("ci") == pytest.approx(want.pop("ci"), abs=1e-12)
        assert got == want
