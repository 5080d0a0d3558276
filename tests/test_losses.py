"""The engine options of issue 13: the squared and logistic losses, the output scale alpha,
the antisymmetric initialization, the convergence tolerance and the recorded trajectories
-- against the plain reference, finite differences, and the facts they rest on."""

from __future__ import annotations

import json

import numpy as np
import pytest
from oracles import arrays_by_thread_count, check_against_reference

from xordsim._validate import InputError
from xordsim.cli import main
from xordsim.config import LOSSES, GDConfig
from xordsim.data import uniform_distribution, xor_dataset
from xordsim.engine import DIVERGED, STALLED, gaussian_init, train, train_groups
from xordsim.model import (
    gradient_norm,
    groups_from_counts,
    loss_and_grad,
    loss_groups,
    network_output,
    outputs_all_masks,
    point_loss,
    recovers_f_star,
)
from xordsim.patterns import PATTERNS, mask_label
from xordsim.reference import (
    reference_loss_and_grad,
    reference_output,
    reference_point_loss,
)

CODES = {name: i for i, name in enumerate(LOSSES)}


# ----------------------------------------------------------------------------------------
# the per-point losses


def test_point_loss_definitions_and_stability():
    n = np.array([-900.0, -3.0, -0.5, 0.0, 0.25, 1.0, 2.0, 7.9, 8.0, 40.0, 900.0])
    for y, m in ((1.0, 8.0), (-1.0, 1.0)):
        for loss in LOSSES:
            got = np.array([point_loss(CODES[loss], v, y, m) for v in n])
            ref = np.stack(reference_point_loss(n, y, m, loss), axis=1)
            assert np.isfinite(got).all()
            np.testing.assert_allclose(got, ref, rtol=1e-15, atol=1e-300)
        hinge = np.array([point_loss(CODES["hinge"], v, y, m) for v in n])
        assert np.array_equal(hinge[:, 0], np.maximum(m - y * n, 0))
        assert np.array_equal(hinge[:, 1], np.where(m - y * n > 0, -y, 0.0))  # 0 at the kink
        sq = np.array([point_loss(CODES["squared"], v, y, m) for v in n])
        assert np.array_equal(sq[:, 0], 0.5 * (n - y * m) ** 2)  # target y m: gamma or -1
    # the logistic loss without overflow: softplus(-z) ~ -z for z << 0, ~ e^{-z} for z >> 0
    assert point_loss(CODES["logistic"], -900.0, 1.0, 8.0) == (900.0, -1.0)
    value, slope = point_loss(CODES["logistic"], 40.0, 1.0, 8.0)
    assert value == pytest.approx(np.exp(-40.0), rel=1e-12)
    assert slope == pytest.approx(-np.exp(-40.0), rel=1e-12)
    assert point_loss(CODES["logistic"], 0.0, -1.0, 1.0) == (np.log(2.0), 0.5)


# ----------------------------------------------------------------------------------------
# closed-form gradients


def numerical_grad(f, w, eps=1e-6):
    g = np.zeros_like(w)
    for idx in np.ndindex(w.shape):
        e = np.zeros_like(w)
        e[idx] = eps
        g[idx] = (f(w + e) - f(w - e)) / (2 * eps)
    return g


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("problem,alpha,k", [("xor", 1.0, 3), ("xord", 0.37, 4),
                                             ("xord", 2.5, 2), ("xor", 1.8, 1)])
def test_gradients_against_finite_differences(loss, problem, alpha, k, rng):
    if problem == "xor":
        x, y = xor_dataset()
    else:
        x, y = uniform_distribution(4).sample_training_set(6, rng)
    gamma = 2.0
    groups = loss_groups(x, y, problem, gamma)
    margin = np.where(y > 0, gamma, 1.0)
    checked = 0
    for _ in range(25):
        w = rng.normal(size=(k, 2))
        u = rng.normal(size=(k, 2))
        # away from kinks: ties between patterns, zero responses, the hinge's corner
        resp = np.concatenate([w, u]) @ PATTERNS.T
        diffs = np.abs(resp[:, :, None] - resp[:, None, :])[:, ~np.eye(4, dtype=bool)]
        n_out = network_output(w, u, x, alpha)
        if (np.abs(resp).min() < 1e-4 or diffs.min() < 1e-4
                or np.abs(margin - y * n_out).min() < 1e-4):
            continue
        value, gw, gu = loss_and_grad(w, u, groups, loss, alpha)
        fw = numerical_grad(lambda v, u=u: loss_and_grad(v, u, groups, loss, alpha)[0], w)
        fu = numerical_grad(lambda v, w=w: loss_and_grad(w, v, groups, loss, alpha)[0], u)
        scale = max(1.0, np.abs(fw).max(), np.abs(fu).max())
        np.testing.assert_allclose(gw, fw, atol=1e-6 * scale)
        np.testing.assert_allclose(gu, fu, atol=1e-6 * scale)
        # the plain reference: same loss and gradient, and its own finite differences
        rl, rgw, rgu = reference_loss_and_grad(w[None], u[None], x[None], y[None], problem,
                                               gamma, loss, alpha)
        assert value == pytest.approx(rl[0], rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(gw, rgw[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gu, rgu[0], rtol=1e-12, atol=1e-12)
        f_ref = numerical_grad(lambda v, u=u: reference_loss_and_grad(
            v[None], u[None], x[None], y[None], problem, gamma, loss, alpha)[0][0], w)
        np.testing.assert_allclose(rgw[0], f_ref, atol=1e-6 * scale)
        norm = np.sqrt((gw ** 2).sum() + (gu ** 2).sum())
        assert gradient_norm(w, u, groups, loss, alpha) == pytest.approx(norm, rel=1e-12)
        checked += 1
    assert checked >= 8


@pytest.mark.parametrize("loss", LOSSES)
def test_gradients_match_reference_including_ties(loss, rng):
    x, y = uniform_distribution(4).sample_training_set(8, rng)
    groups = loss_groups(x, y, "xord", 3.0)
    for trial in range(20):
        # integer weights create ties between patterns and zero responses on purpose
        w = rng.integers(-2, 3, size=(4, 2)).astype(float)
        u = rng.integers(-2, 3, size=(4, 2)).astype(float)
        alpha = (1.0, 0.5, 3.0)[trial % 3]
        value, gw, gu = loss_and_grad(w, u, groups, loss, alpha)
        rl, rgw, rgu = reference_loss_and_grad(w[None], u[None], x[None], y[None], "xord",
                                               3.0, loss, alpha)
        assert value == pytest.approx(rl[0], rel=1e-12, abs=1e-12)
        np.testing.assert_allclose(gw, rgw[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(gu, rgu[0], rtol=1e-12, atol=1e-12)


def test_group_loss_counts_the_groups_that_miss_their_margin(rng):
    from xordsim.model import (
        TABLES,
        LossGroups,
        Scratch,
        forward,
        group_loss,
        kernel_groups,
        kernel_loss,
        to_st,
    )

    x, y = uniform_distribution(4).sample_training_set(10, rng)
    g = loss_groups(x, y, "xord", gamma=2.0)
    G = g.mask.shape[1]
    for trial in range(24):
        loss, alpha = LOSSES[trial % 3], (1.0, 0.5, 2.0)[trial % 2]
        w = rng.integers(-2, 3, size=(3, 2)).astype(float)
        u = rng.integers(-2, 3, size=(3, 2)).astype(float)
        sc = Scratch(*to_st(w), *to_st(u), np.zeros((4, 4)), np.empty(8), np.empty(8),
                     np.empty(G))
        forward(sc.sw, sc.tw, sc.su, sc.tu, sc.D)
        grp = LossGroups(*(a[0] for a in g.arrays()))
        weight = grp.weight.copy()
        weight[trial % G] = 0.0  # a zero-weight group never counts and adds nothing
        grp = grp._replace(weight=weight)
        spec = kernel_loss(loss, alpha)
        active = np.zeros(G, np.int64)
        value = group_loss(sc, kernel_groups(grp, spec), TABLES, active, spec)
        n = alpha * outputs_all_masks(w, u)[0, grp.mask]
        expect = (weight > 0) & (grp.margin - grp.y * n > 0)  # the kink itself does not
        assert active.tolist() == expect.astype(int).tolist()
        direct = reference_point_loss(n, grp.y, grp.margin, loss)[0]
        assert value == pytest.approx((weight * direct).sum(), rel=1e-12, abs=1e-12)


# ----------------------------------------------------------------------------------------
# the engine against the plain reference along trajectories

CASES = [
    # loss, problem, k, alpha, init, per-replica data
    ("hinge", "xord", 1, 1.0, "antisymmetric", True),
    ("hinge", "xord", 2, 2.5, "gaussian", False),
    ("hinge", "xor", 5, 0.4, "antisymmetric", False),
    ("squared", "xord", 1, 1.0, "gaussian", True),
    ("squared", "xord", 2, 0.6, "antisymmetric", True),
    ("squared", "xor", 3, 1.7, "gaussian", False),
    ("squared", "xord", 7, 2.0, "antisymmetric", False),
    ("logistic", "xord", 1, 1.0, "antisymmetric", False),
    ("logistic", "xord", 2, 3.0, "gaussian", True),
    ("logistic", "xor", 2, 0.5, "antisymmetric", False),
    ("logistic", "xord", 6, 1.3, "gaussian", True),
]


@pytest.mark.parametrize("loss,problem,k,alpha,init,per_replica", CASES, ids=str)
def test_engine_matches_reference_along_trajectories(loss, problem, k, alpha, init,
                                                     per_replica, rng):
    """The kernel train picks against the plain reference (tests/oracles.py), one training
    set per replica or one shared."""
    check_against_reference(None, loss, problem, k, alpha, init, rng, R=8, T=300, every=7,
                            shared=not per_replica)


def test_active_counts_follow_the_margin_for_every_loss(rng):
    """a_g(t) counts the steps at which y N < margin, whatever the loss (the hinge's
    active steps for the hinge). Not checked here for the squared loss, whose outputs
    converge to the margins themselves (its targets), where the count is decided by
    rounding."""
    x, y = xor_dataset()
    T = 120
    for loss in ("hinge", "logistic"):
        res = train(x, y, 4, problem="xor", replicas=10, steps=T, c_eta=0.3, seed=rng,
                    loss=loss, output_scale=1.5, snapshot_steps=range(T + 1))
        n_t = np.stack([reference_output(res.snapshots_w[:, t], res.snapshots_u[:, t], x[None],
                                         1.5) for t in range(T + 1)], axis=1)  # (R, T+1, 4)
        a = np.cumsum(y * n_t < 1, axis=1)
        point_of_group = {1: 0, 2: 3, 4: 2, 8: 1}
        for g, M in enumerate(res.groups.mask[0]):
            assert (res.snapshots_active[:, :, g] == a[:, :, point_of_group[int(M)]]).all()
            assert (res.active_counts[:, g] == a[:, T, point_of_group[int(M)]]).all()


# ----------------------------------------------------------------------------------------
# the facts the options rest on


def _identity_breaking_set():
    """Positives {1}, {3}, {1,3} and negatives {2}, {4}, {2,4} (pattern-set masks 1, 4, 5
    and 2, 8, 10), one point each: N{1,3} = N{1} + N{3} and N{2,4} = N{2} + N{4} for
    every W, while the targets are 8, 8, 8 and -1, -1, -1."""
    counts = np.zeros((2, 16), np.int64)
    counts[1, [1, 4, 5]] = 1
    counts[0, [2, 8, 10]] = 1
    return counts


#: The squared loss's floor on that set (weights 1/3): positives min over a, b of
#: (1/6)[(a-8)^2 + (b-8)^2 + (a+b-8)^2] = 32/9 at a = b = 16/3; negatives 1/18 at -2/3.
SQUARED_FLOOR = 32 / 9 + 1 / 18


def test_squared_loss_has_a_positive_floor_where_targets_break_the_identities():
    groups = groups_from_counts(_identity_breaking_set(), "xord", 8.0)
    res = train_groups(groups, 2, k=10, replicas=16, steps=4000, c_eta=0.5, gamma=8.0,
                       loss="squared", init_std=0.3, seed=2, record_every=1)
    assert not (res.status == DIVERGED).any() and not res.converged.any()
    # no W goes below the floor: at every step of every replica
    assert res.loss_trajectory.min() >= SQUARED_FLOOR - 1e-12
    # GD ends at a stationary point with a positive loss: most replicas at the floor
    # (the others keep dead filters and stop higher, still stationary)
    assert np.median(res.loss) == pytest.approx(SQUARED_FLOOR, abs=1e-6)
    assert np.median(res.grad_norm) < 1e-6
    at_floor = np.abs(res.loss - SQUARED_FLOOR) < 1e-6
    assert np.allclose(res.outputs[at_floor][:, [1, 4, 5]], [16 / 3, 16 / 3, 32 / 3],
                       atol=1e-5)


def test_hinge_and_logistic_fit_f_star_on_the_same_set():
    groups = groups_from_counts(_identity_breaking_set(), "xord", 8.0)
    masks = np.array([1, 4, 5, 2, 8, 10])
    hinge = train_groups(groups, 2, k=10, replicas=16, steps=4000, c_eta=0.5, gamma=8.0,
                         init_std=0.3, seed=2)
    ok = hinge.converged
    assert ok.mean() > 0.5 and (hinge.loss[ok] == 0).all()
    assert (hinge.outputs[ok][:, masks] * mask_label(masks) >= [8, 8, 8, 1, 1, 1]).all()
    tol = 0.01  # below min_i w_i log 2 = (log 2)/3: loss <= tol forces zero training error
    logistic = train_groups(groups, 2, k=10, replicas=16, steps=20000, c_eta=0.5,
                            gamma=8.0, init_std=0.3, seed=2, loss="logistic", tol=tol)
    ok = logistic.converged
    assert ok.mean() > 0.5 and (logistic.loss[ok] <= tol).all()
    assert (logistic.train_error[ok] == 0).all()
    assert recovers_f_star(logistic.outputs[ok], masks).all()


def test_tolerance_is_the_first_step_at_or_below_tol(rng):
    x, y = uniform_distribution(4).sample_training_set(6, rng)
    res = train(x, y, 6, replicas=12, steps=3000, c_eta=0.5, seed=4, loss="logistic",
                tol=0.05, record_every=1)
    ok = res.converged
    assert ok.any() and (res.status[~ok] != STALLED).all()
    for r in np.flatnonzero(ok):
        t = res.converged_step[r]
        traj = res.loss_trajectory[r]
        assert traj[t] <= 0.05 and (traj[:t] > 0.05).all()
        assert (traj[t:] == traj[t]).all()  # a stopped replica keeps its final values
    # the default tol = 0: logistic runs never stop, the hinge's stop is unchanged
    plain = train(x, y, 6, replicas=12, steps=300, c_eta=0.5, seed=4, loss="logistic")
    assert (plain.stop_step == 300).all() and (plain.loss > 0).all()


# ----------------------------------------------------------------------------------------
# output scale, initialization, trajectories


def test_output_scale_scales_every_output():
    x, y = uniform_distribution(3).sample_training_set(4, 0)
    base = train(x, y, 5, replicas=3, steps=0, seed=1)
    scaled = train(x, y, 5, replicas=3, steps=0, seed=1, output_scale=3.0)
    assert np.array_equal(scaled.w0, base.w0)
    assert np.array_equal(scaled.outputs, 3.0 * base.outputs)
    np.testing.assert_allclose(outputs_all_masks(base.w, base.u, 3.0), scaled.outputs,
                               rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(network_output(base.w, base.u, x, 3.0),
                               3.0 * network_output(base.w, base.u, x), rtol=1e-15)
    with pytest.raises(InputError, match="output_scale"):
        outputs_all_masks(base.w, base.u, 0.0)
    with pytest.raises(InputError, match="output_scale"):
        train(x, y, 5, output_scale=-1.0)


def test_antisymmetric_init_starts_at_zero_and_is_seeded():
    w, u = gaussian_init(4, 7, 0.3, 5, init="antisymmetric")
    gw, _ = gaussian_init(4, 7, 0.3, 5)
    assert np.array_equal(w, gw) and np.array_equal(u, w) and u is not w
    x, y = uniform_distribution(3).sample_training_set(4, 0)
    res = train(x, y, 7, replicas=4, steps=0, init_std=0.3, seed=5, init="antisymmetric")
    assert np.array_equal(res.w0, gw) and (res.outputs == 0).all()
    again = train(x, y, 7, replicas=4, steps=50, init_std=0.3, seed=5, init="antisymmetric")
    once = train(x, y, 7, replicas=4, steps=50, init_std=0.3, seed=5, init="antisymmetric")
    assert np.array_equal(again.w, once.w) and np.array_equal(again.u, once.u)
    with pytest.raises(InputError, match="init"):
        gaussian_init(2, 2, 0.1, 0, init="uniform")


def test_trajectories_shapes_and_what_follows_a_stop(rng):
    x, y = xor_dataset()
    res = train(x, y, 2, problem="xor", replicas=60, steps=3000, seed=rng, record_every=100)
    assert np.array_equal(res.trajectory_steps, np.arange(31) * 100)
    assert res.loss_trajectory.shape == res.train_error_trajectory.shape == (60, 31)
    assert res.params["record_every"] == 100 and res.config.record_every == 100
    for r in range(60):
        later = res.trajectory_steps >= res.stop_step[r]
        if later.any():
            assert (res.loss_trajectory[r, later] == res.loss[r]).all()
            assert (res.train_error_trajectory[r, later] == res.train_error[r]).all()
    conv = res.converged
    assert conv.any() and (res.loss_trajectory[conv, -1] == 0).all()
    off = train(x, y, 2, problem="xor", replicas=3, steps=10)
    assert off.loss_trajectory is None and off.trajectory_steps.size == 0
    # diverged replicas: NaN from the step they diverged
    xd, yd = uniform_distribution(4).sample_training_set(5, rng)
    div = train(xd, yd, 3, replicas=4, steps=50, lr=10.0, seed=1, max_weight=5.0,
                record_every=1, loss="squared")
    assert (div.status == DIVERGED).all()
    for r in range(4):
        assert np.isnan(div.loss_trajectory[r, div.stop_step[r]:]).all()
        assert np.isfinite(div.loss_trajectory[r, :div.stop_step[r]]).all()


def test_trajectories_that_do_not_fit_are_refused_up_front():
    x, y = xor_dataset()
    with pytest.raises(InputError, match="record_every"):
        train(x, y, 2, problem="xor", steps=10**12, record_every=1)
    cfg = GDConfig(steps=1000, record_every=10, replicas=50)
    assert cfg.recorded_steps == 101
    assert cfg.memory_bytes() - cfg.replace(record_every=0).memory_bytes() == 50 * 101 * 16


SCRIPT = """
import sys
import numpy as np
from xordsim.data import uniform_distribution
from xordsim.engine import train
x, y = uniform_distribution(6).sample_training_sets(5, 64, 11)
out = []
for loss, alpha, init in (("hinge", 0.7, "antisymmetric"), ("squared", 1.3, "gaussian"),
                          ("logistic", 2.0, "antisymmetric")):
    r = train(x, y, 9, replicas=64, steps=300, c_eta=0.2, seed=5, loss=loss,
              output_scale=alpha, init=init, record_every=10)
    out += [r.w.ravel(), r.u.ravel(), r.test_error, r.loss, r.loss_trajectory.ravel(),
            r.converged_step.astype(float)]
np.save(sys.argv[1], np.concatenate(out))
"""


def test_bit_identical_across_thread_counts_for_every_loss(tmp_path):
    outs = arrays_by_thread_count(SCRIPT, tmp_path)
    assert outs[0].size > 0 and outs[0].tobytes() == outs[1].tobytes()


# ----------------------------------------------------------------------------------------
# the command line


def run_cli(args, capsys):
    try:
        code = main(args)
    except SystemExit as exc:
        code = exc.code
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_train_summary_for_each_loss(tmp_path, capsys):
    code, out, _ = run_cli(["train", "--problem", "xor", "--k", "3", "--replicas", "8",
                            "--steps", "200", "--loss", "squared"], capsys)
    assert code == 0
    assert "loss=squared" in out and "converged (squared loss <= tol = 0):" in out
    assert "final squared loss" in out and "gradient norm" in out
    code, out, _ = run_cli(["train", "--problem", "xor", "--k", "3", "--replicas", "8",
                            "--steps", "200"], capsys)
    assert code == 0 and "converged (zero loss):" in out and "loss=" not in out
    path = tmp_path / "run.npz"
    code, out, _ = run_cli(["train", "--d", "3", "--m", "4", "--k", "4", "--replicas", "5",
                            "--steps", "100", "--loss", "logistic", "--tol", "0.2",
                            "--output-scale", "2", "--init", "antisymmetric",
                            "--record-every", "10", "--save", str(path), "--json"], capsys)
    assert code == 0
    summary = json.loads(out)
    for key, value in (("loss", "logistic"), ("tol", 0.2), ("output_scale", 2.0),
                       ("init", "antisymmetric"), ("record_every", 10)):
        assert summary["params"][key] == value and summary["config"][key] == value
    assert summary["converged_meaning"] == "logistic loss <= tol = 0.200"
    assert summary["final_loss_mean"] > 0 and summary["grad_norm_median"] >= 0
    z = np.load(path)
    assert z["loss_trajectory"].shape == (5, 11) and z["trajectory_steps"][-1] == 100
    assert json.loads(str(z["config_json"]))["loss"] == "logistic"


def test_cli_refuses_trajectories_that_do_not_fit(capsys):
    code, _, err = run_cli(["train", "--replicas", "1000", "--steps", "1e12",
                            "--record-every", "1"], capsys)
    assert code == 2 and "--record-every" in err and len(err.strip().splitlines()) == 1
