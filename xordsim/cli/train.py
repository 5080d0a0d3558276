"""``xordsim train``: batched GD on XOR or XORD with a short summary (and --save / --json).

Every option is a field of :class:`xordsim.config.GDConfig` (declared there once) except
``--threads``, ``--save`` and ``--json``.
"""

from __future__ import annotations

from xordsim._validate import InputError, check_memory, fits_in_memory
from xordsim.cli._common import (
    add_json,
    add_param,
    add_threads,
    apply_threads,
    check_output_file,
    given,
    param_value,
)
from xordsim.config import GDConfig

#: Options that describe XORD data, and are an error with --problem xor.
XORD_ONLY = ("d", "m", "distribution", "data", "prior_pos")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train",
        help="train R replicas by full-batch gradient descent and summarize",
        description="Train R random initializations of the XOR (Eq. 1) or XORD (Eq. 2) "
        "network by full-batch gradient descent on the first layer, and print the fraction "
        "converged and the train and exact test error with 95% intervals. A replica "
        "converges when its loss is <= --tol (default 0: the hinge's exact zero loss; the "
        "squared and logistic losses stay positive, so they run all --steps unless --tol "
        "is > 0).",
    )
    for param in GDConfig.params().values():
        add_param(p, param)
    add_threads(p)
    p.add_argument("--save", default=None, metavar="FILE.npz",
                   help="write data, weights, results and the config (atomically)")
    add_json(p)
    p.set_defaults(func=run, command="train")


def config_from_args(args) -> GDConfig:
    """The run's :class:`GDConfig` from the parsed options; options that do not apply to
    the chosen problem or data mode are errors."""
    params = GDConfig.params()
    values = {name: param_value(args, p) for name, p in params.items() if given(args, name)}
    problem = values.get("problem", params["problem"].default)
    if problem == "xor":
        for name in XORD_ONLY:
            if given(args, name):
                raise InputError(f"{params[name].option} applies only to --problem xord "
                                 "(XOR has its 4 points)")
    if given(args, "lr") and given(args, "c_eta"):
        raise InputError("--lr and --c-eta: give one of them (lr = c_eta / k)")
    if values.get("data") == "decoy":
        if given(args, "m"):
            raise InputError("--m does not apply to --data decoy (6 + 6 diverse points)")
        if values.get("d", params["d"].default) < 4:
            raise InputError(f"--d must be >= 4 for --data decoy (a diverse positive holds all "
                             f"4 patterns), got {values['d']}")
    cfg = GDConfig(**values)
    _check_memory(cfg)
    return cfg


def _check_memory(cfg: GDConfig) -> None:
    """Refuse a run whose arrays would not fit, naming the option that makes it large."""
    cfg.check_trajectories_fit("--record-every")
    need = cfg.memory_bytes()
    if fits_in_memory(need):
        return
    params = GDConfig.params()
    culprit = min(("replicas", "k", "m", "d"),
                  key=lambda n: cfg.replace(**{n: params[n].default}).memory_bytes())
    check_memory(params[culprit].option, need)


def run(args) -> int:
    cfg = config_from_args(args)
    save = None if args.save is None else check_output_file("--save", args.save, ".npz")
    json_file = None if args.json in (None, "-") else check_output_file("--json", args.json)

    import json
    import sys

    import numpy as np

    from xordsim.data import decoy_training_set, distribution_from_spec, xor_dataset
    from xordsim.engine import train
    from xordsim.io import write_json, write_npz

    if cfg.problem == "xord":
        dist = distribution_from_spec(cfg.distribution, cfg.d, cfg.prior_pos)
    apply_threads(args)
    rng = np.random.default_rng(cfg.seed)
    if cfg.problem == "xor":
        x, y = xor_dataset()
        dist = None
    elif cfg.data == "fresh":
        x, y = dist.sample_training_sets(cfg.m, cfg.replicas, rng)
    elif cfg.data == "shared":
        x, y = dist.sample_training_set(cfg.m, rng)
    else:
        x, y = decoy_training_set(cfg.d, 6, rng)
    res = train(x, y, cfg, seed=rng, test_distribution=dist)
    summary = summarize(res)
    summary["config"] = res.config.to_dict()
    if save is not None:
        trajectories = {} if res.loss_trajectory is None else dict(
            trajectory_steps=res.trajectory_steps, loss_trajectory=res.loss_trajectory,
            train_error_trajectory=res.train_error_trajectory)
        write_npz(save, x=x, y=y, w0=res.w0, u0=res.u0, w=res.w, u=res.u,
                  train_error=res.train_error, test_error=res.test_error,
                  converged_step=res.converged_step, status=res.status, loss=res.loss,
                  config_json=np.array(json.dumps(summary["config"])),
                  params_json=np.array(json.dumps(summary["params"])), **trajectories)
    if args.json == "-":
        json.dump(summary, sys.stdout, indent=2)
        print()
    else:
        print(format_summary(summary))
        if json_file is not None:
            write_json(json_file, summary)
            print(f"wrote {json_file}")
        if save is not None:
            print(f"saved {save}")
    return 0


def summarize(res) -> dict:
    """Summary of a :class:`~xordsim.engine.TrainResult`: counts, fractions and 95% intervals.

    Fractions: Clopper–Pearson. Mean errors (bounded in [0, 1], skewed): the BCa bootstrap
    of :func:`xordsim.stats.bounded_mean_ci`, seeded by the run's seed. Diverged replicas
    are counted and excluded from the means. ``converged`` counts the replicas whose loss
    reached ``tol`` (``converged_meaning`` says it in words); the final loss and gradient
    norm (mean and median over the replicas that did not diverge) tell where the squared
    and logistic runs, which need not converge, ended.
    """
    import numpy as np

    from xordsim.engine import STATUS_NAMES
    from xordsim.stats import bounded_mean_ci, proportion_ci

    R = res.status.size
    n_conv = int(res.converged.sum())
    conv_ci = proportion_ci(n_conv, R)
    ok = ~res.diverged
    cfg = res.config
    tr = bounded_mean_ci(res.train_error[ok], seed=cfg.seed)
    te = bounded_mean_ci(res.test_error[ok], seed=cfg.seed)
    tc = bounded_mean_ci(res.test_error[res.converged], seed=cfg.seed)
    counts = {STATUS_NAMES[s]: int((res.status == s).sum()) for s in STATUS_NAMES}
    params = dict(res.params, seed=cfg.seed, data=cfg.data if cfg.problem == "xord" else "xor",
                  distribution=cfg.distribution, prior_pos=cfg.prior_pos)
    loss, grad = res.loss[ok], res.grad_norm[ok]
    return {
        "params": params,
        "replicas": R,
        "status_counts": counts,
        "converged": n_conv,
        "fraction_converged": n_conv / R,
        "fraction_converged_ci95": list(conv_ci),
        "converged_meaning": converged_meaning(cfg.loss, cfg.tol),
        "final_loss_mean": float(loss.mean()) if loss.size else None,
        "final_loss_median": float(np.median(loss)) if loss.size else None,
        "grad_norm_median": float(np.median(grad)) if grad.size else None,
        "train_error_mean": tr[0],
        "train_error_ci95": [tr[1], tr[2]],
        "test_error_mean": te[0],
        "test_error_ci95": [te[1], te[2]],
        "test_error_converged_mean": tc[0],
        "test_error_converged_ci95": [tc[1], tc[2]],
        "interval_method": "fractions: Clopper-Pearson; mean errors: BCa bootstrap "
                           "(4000 resamples, seeded), exact bound when all values are equal",
        "mean_steps_to_converge": float(res.converged_step[res.converged].mean())
        if n_conv else None,
        "seconds": res.seconds,
    }


def converged_meaning(loss: str, tol: float) -> str:
    """What 'converged' means for a run with this loss and tolerance, in a few words."""
    from xordsim.fmt import sig

    if tol == 0 and loss == "hinge":
        return "zero loss"
    return f"{loss} loss <= tol = {sig(tol)}"


def _extra_settings(p: dict) -> str:
    """The settings beyond the paper's that differ from their defaults, as ' name=value'."""
    from xordsim.fmt import sig

    params = GDConfig.params()
    out = ""
    for name in ("loss", "tol", "output_scale", "init", "record_every"):
        value = p.get(name, params[name].default)
        if value != params[name].default:
            out += f" {name}={sig(value) if isinstance(value, float) else value}"
    return out


def format_summary(s: dict) -> str:
    """The human-readable summary (3 significant digits; 95% intervals on one line)."""
    from xordsim.fmt import interval, sig

    p = s["params"]
    data = f" data={p['data']}" if p["problem"] == "xord" else ""
    loss = p.get("loss", GDConfig.params()["loss"].default)
    lines = [
        f"xordsim train: {p['problem'].upper()} k={p['k']} d={p['d']} n={p['n']}{data} "
        f"gamma={sig(p['gamma'])} lr={sig(p['lr'])} init_std={sig(p['init_std'])} "
        f"steps<={p['steps']} seed={p.get('seed')}{_extra_settings(p)}",
        f"replicas: {s['replicas']}  " + "  ".join(f"{k}: {v}" for k, v in
                                                     s["status_counts"].items()),
        f"converged ({s['converged_meaning']}): {s['converged']} of {s['replicas']} = "
        f"{sig(s['fraction_converged'])}  95% CI {interval(*s['fraction_converged_ci95'])} "
        "(Clopper-Pearson)",
        f"train error: mean {sig(s['train_error_mean'])}  95% CI "
        f"{interval(*s['train_error_ci95'])}",
        f"test error (exact over the distribution): mean {sig(s['test_error_mean'])}  95% CI "
        f"{interval(*s['test_error_ci95'])}",
    ]
    if s["converged"] and s["converged"] < s["replicas"]:
        lines.append(f"  of the {s['converged']} converged runs: mean "
                     f"{sig(s['test_error_converged_mean'])}  95% CI "
                     f"{interval(*s['test_error_converged_ci95'])}")
    if loss != "hinge" and s["final_loss_mean"] is not None:
        lines.append(f"final {loss} loss: mean {sig(s['final_loss_mean'])}, median "
                     f"{sig(s['final_loss_median'])}; gradient norm: median "
                     f"{sig(s['grad_norm_median'])}")
        if loss == "squared":
            lines.append("  (the squared loss stays positive when the training set holds "
                         "pattern sets whose targets break N's linear identities, e.g. "
                         "{1}, {3}, {1,3}: runs end at --steps or --tol)")
    lines += ["(error intervals: BCa bootstrap over replicas, 4000 resamples; exact bound when "
              "all replicas agree)", f"time: {sig(s['seconds'])} s"]
    if s["status_counts"].get("diverged"):
        lines.append(f"warning: {s['status_counts']['diverged']} replicas diverged; their "
                     "errors are excluded from the means above")
    return "\n".join(lines)
