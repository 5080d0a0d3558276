"""``xordsim train``: batched GD on XOR or XORD with a short summary (and --save / --json)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

from xordsim._validate import InputError, check_choice, check_float, check_int
from xordsim.config import default_init_std, default_lr
from xordsim.data import (
    MaskDistribution,
    PatternDistribution,
    decoy_training_set,
    xor_dataset,
)
from xordsim.engine import STATUS_NAMES, train
from xordsim.io import write_npz
from xordsim.stats import mean_ci, proportion_ci


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train R replicas by full-batch gradient descent and summarize",
        description="Train R random initializations of the XOR (Eq. 1) or XORD (Eq. 2) "
        "network by full-batch gradient descent on the first layer.",
    )
    p.add_argument("--problem", default="xord", help="xor or xord (default: xord)")
    p.add_argument("--d", type=int, help="patterns per point, XORD only (default: 10)")
    p.add_argument("--m", type=int, help="positives and negatives in the training set, "
                   "XORD only (default: 20)")
    p.add_argument("--k", type=int, default=100, help="filters per sign (default: 100)")
    p.add_argument("--replicas", type=int, default=1000, help="R (default: 1000)")
    p.add_argument("--steps", type=int, default=5000, help="T, max GD steps (default: 5000)")
    p.add_argument("--gamma", type=float, help="margin of positives (default: 8 XORD, 1 XOR)")
    lr = p.add_mutually_exclusive_group()
    lr.add_argument("--lr", type=float, help="learning rate eta (default: c_eta / k)")
    lr.add_argument("--c-eta", type=float, default=0.1, help="c_eta (default: 0.1)")
    p.add_argument("--init-std", type=float,
                   help="sigma_g of the Gaussian init (default: c_eta / (16 k^1.5))")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--distribution", default="uniform",
                   help="XORD data distribution: 'uniform', 'pattern:Q1,Q2,Q3,Q4' (i.i.d. "
                   "positions), or a JSON file {\"pos\": {\"1,2,3,4\": P, ...}, \"neg\": {...}} "
                   "of pattern-set probabilities (default: uniform)")
    p.add_argument("--data", default="fresh",
                   help="fresh: a new training set per replica; shared: one for all; "
                   "decoy: the Sec. 5 decoy set (6 + 6 diverse points) (default: fresh)")
    p.add_argument("--prior-pos", type=float, default=0.5,
                   help="P(y = +1) in the test distribution (default: 0.5)")
    p.add_argument("--max-weight", type=float, default=1e12,
                   help="mean filter response that counts as divergence (default: 1e12)")
    p.add_argument("--threads", type=int, help="numba threads (default: all cores)")
    p.add_argument("--save", metavar="FILE.npz", help="write data, weights and results")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.set_defaults(func=run)


def parse_distribution(spec: str, d: int, prior_pos: float):
    """Build a distribution from the ``--distribution`` string."""
    if spec == "uniform":
        return PatternDistribution(d=d, prior_pos=prior_pos)
    if spec.startswith("pattern:"):
        try:
            q = tuple(float(v) for v in spec[len("pattern:"):].split(","))
        except ValueError:
            raise InputError(f"--distribution pattern: expects 4 numbers, got {spec!r}") from None
        if len(q) != 4:
            raise InputError(f"--distribution pattern: expects 4 numbers, got {spec!r}")
        return PatternDistribution(d=d, q=q, prior_pos=prior_pos)
    path = Path(spec)
    if path.suffix == ".json":
        try:
            table = json.loads(path.read_text())
            pos = {tuple(int(v) for v in key.split(",")): float(p)
                   for key, p in table["pos"].items()}
            neg = {tuple(int(v) for v in key.split(",")): float(p)
                   for key, p in table["neg"].items()}
        except FileNotFoundError:
            raise InputError(f"--distribution: no such file {spec}") from None
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"--distribution: malformed file {spec} ({exc!r}); expected "
                             "{\"pos\": {\"1,3\": 0.5, ...}, \"neg\": {\"2,4\": 1.0}}") from None
        return MaskDistribution(d=d, pos=pos, neg=neg, prior_pos=prior_pos)
    raise InputError(f"--distribution must be 'uniform', 'pattern:Q1,Q2,Q3,Q4' or a .json "
                     f"file; got {spec!r}")


def run(args) -> int:
    problem = check_choice("--problem", args.problem, ("xor", "xord"))
    k = check_int("--k", args.k, 1)
    replicas = check_int("--replicas", args.replicas, 1)
    steps = check_int("--steps", args.steps, 0)
    c_eta = check_float("--c-eta", args.c_eta, 0, low_open=True)
    lr = default_lr(k, c_eta) if args.lr is None else check_float("--lr", args.lr, 0,
                                                                  low_open=True)
    init_std = (default_init_std(k, c_eta) if args.init_std is None
                else check_float("--init-std", args.init_std, 0))
    gamma = None if args.gamma is None else check_float("--gamma", args.gamma, 0, low_open=True)
    prior_pos = check_float("--prior-pos", args.prior_pos, 0, 1, low_open=True, high_open=True)
    check_float("--max-weight", args.max_weight, 0, low_open=True)
    data_mode = check_choice("--data", args.data, ("fresh", "shared", "decoy"))
    if args.threads is not None:
        import numba

        most = numba.config.NUMBA_NUM_THREADS
        numba.set_num_threads(check_int("--threads", args.threads, 1, most))
    rng = np.random.default_rng(args.seed)
    if problem == "xor":
        for name in ("d", "m"):
            if getattr(args, name) is not None:
                raise InputError(f"--{name} applies only to --problem xord (XOR has its 4 points)")
        if args.distribution != "uniform" or data_mode != "fresh":
            raise InputError("--distribution and --data apply only to --problem xord")
        x, y = xor_dataset()
        dist = PatternDistribution(d=1)
        data_mode = "xor"
    else:
        d = check_int("--d", 10 if args.d is None else args.d, 1)
        m = check_int("--m", 20 if args.m is None else args.m, 1)
        dist = parse_distribution(args.distribution, d, prior_pos)
        if data_mode == "fresh":
            x, y = dist.sample_training_sets(m, replicas, rng)
        elif data_mode == "shared":
            x, y = dist.sample_training_set(m, rng)
        else:
            if args.m is not None:
                raise InputError("--m does not apply to --data decoy (6 + 6 diverse points)")
            x, y = decoy_training_set(check_int("--d", d, 4), 6, rng)
    res = train(x, y, k, problem=problem, replicas=replicas, steps=steps, gamma=gamma, lr=lr,
                c_eta=c_eta, init_std=init_std, seed=rng, test_distribution=dist,
                max_weight=args.max_weight)
    summary = summarize(res)
    summary["params"].update(seed=args.seed, data=data_mode, distribution=args.distribution,
                             prior_pos=prior_pos)
    if args.save:
        params = summary["params"]
        write_npz(args.save, x=x, y=y, w0=res.w0, u0=res.u0, w=res.w, u=res.u,
                  train_error=res.train_error, test_error=res.test_error,
                  converged_step=res.converged_step, status=res.status, loss=res.loss,
                  params_json=np.array(json.dumps(params)),
                  **{key: np.array(val) for key, val in params.items() if val is not None})
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
    else:
        print(format_summary(summary))
        if args.save:
            print(f"saved {args.save}")
    return 0


def summarize(res) -> dict:
    """Summary of a :class:`~xordsim.engine.TrainResult`: fractions and 95% intervals."""
    R = res.status.size
    n_conv = int(res.converged.sum())
    conv_ci = proportion_ci(n_conv, R)
    ok = ~res.diverged
    tr = mean_ci(res.train_error[ok])
    te = mean_ci(res.test_error[ok])
    counts = {STATUS_NAMES[s]: int((res.status == s).sum()) for s in STATUS_NAMES}
    return {
        "params": dict(res.params),
        "replicas": R,
        "status_counts": counts,
        "fraction_converged": n_conv / R,
        "fraction_converged_ci95": list(conv_ci),
        "train_error_mean": tr[0],
        "train_error_ci95": [tr[1], tr[2]],
        "test_error_mean": te[0],
        "test_error_ci95": [te[1], te[2]],
        "test_error_converged_mean": mean_ci(res.test_error[res.converged])[0],
        "mean_steps_to_converge": float(res.converged_step[res.converged].mean())
        if n_conv else None,
        "seconds": res.seconds,
    }


def format_summary(s: dict) -> str:
    p = s["params"]
    lines = [
        f"xordsim train: {p['problem'].upper()} k={p['k']} d={p['d']} n={p['n']} "
        f"({p.get('data', '')}) gamma={p['gamma']:g} lr={p['lr']:.4g} "
        f"init_std={p['init_std']:.3g} steps<={p['steps']} seed={p.get('seed')}",
        f"replicas: {s['replicas']}  " + "  ".join(f"{k}: {v}" for k, v in
                                                     s["status_counts"].items()),
        f"fraction converged (zero loss): {s['fraction_converged']:.4f}  "
        f"95% CI [{s['fraction_converged_ci95'][0]:.4f}, {s['fraction_converged_ci95'][1]:.4f}]"
        " (Clopper-Pearson)",
        f"train error: mean {s['train_error_mean']:.4f}  95% CI [{s['train_error_ci95'][0]:.4f}, "
        f"{s['train_error_ci95'][1]:.4f}] (Student t over replicas)",
        f"test error (exact over the distribution): mean {s['test_error_mean']:.4f}  95% CI "
        f"[{s['test_error_ci95'][0]:.4f}, {s['test_error_ci95'][1]:.4f}]",
        f"time: {s['seconds']:.2f} s (JIT compilation included on a first run)",
    ]
    if s["status_counts"].get("diverged"):
        lines.append(f"warning: {s['status_counts']['diverged']} replicas diverged; their "
                     "errors are excluded from the means above")
    return "\n".join(lines)
