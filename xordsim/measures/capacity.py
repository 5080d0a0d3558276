"""Norm- and distance-based capacity measures of two-layer ReLU networks (seed 003).

Neyshabur, Li, Bhojanapalli, LeCun, Srebro, *The Role of Over-Parametrization in
Generalization of Neural Networks*, ICLR 2019, compare the capacity measures and
generalization bounds of a trained two-layer network f(x) = V[Ux + b]₊ + c as the number of
hidden units h grows. Their public code -- github.com/bneyshabur/over-parametrization,
``measures.py`` at the latest commit 033c98756e58df583e7ad58e940676cddc097c8c (the file last
changed in 7eaf1372e48c) -- defines every measure below; this module re-implements it in
NumPy from the formulas (no code copied) with the code's key names, constants and logarithms,
and adds the papers' forms under new keys where the code departs from them.

Notation (the code's): U (h×D), b (h,), V (C×h), c (C,) the trained weights, U⁰, b⁰, V⁰, c⁰
their initial values, m training points x_i with labels y_i, margin γ, confidence δ.
σ₁(A) is the largest singular value, ‖A‖_F the Frobenius norm, u_j the j-th row of U
(hidden unit j), v_c the c-th row of V (class c). ``ln`` is the natural logarithm, ``log₂``
base 2, exactly as in the code.

Norms (weights only; biases enter through the hidden outputs and ``#parameter``)::

    Frobenius1 = ‖U‖_F            Frobenius2 = ‖V‖_F
    Distance1  = ‖U − U⁰‖_F       Distance2  = ‖V − V⁰‖_F
    Spectral1  = σ₁(U)            Spectral2  = σ₁(V)
    Fro_Fro     = ‖U‖_F ‖V‖_F
    L1max_L1max = max_j ‖u_j‖₁ · max_c ‖v_c‖₁                     (‖·‖ over rows)
    Spec_Dist   = σ₁(U) ‖V − V⁰‖_F √C
    Dist_Spec   = σ₁(V) ‖U − U⁰‖_F √h            Spec_Dist_sum  = the sum of the two
    Spec_L1max  = σ₁(U) Σ_c ‖v_c − v⁰_c‖₂
    L1max_Spec  = σ₁(V) Σ_j ‖u_j − u⁰_j‖₂         Spec_L1max_sum = the sum of the two
    Dist_Fro    = ‖U − U⁰‖_F ‖V‖_F
    init_Fro    = σ₁(U⁰) ‖V‖_F                   Dist_Fro_sum   = the sum of the two
    #parameter  = P = hD + h + Ch + C              (every entry of U, b, V, c)

Data statistics (the code's): data_L2 = (1/m) Σ_i ‖x_i‖², domain_L2 = max_i ‖x_i‖²,
data_Linf = (1/m) Σ_batches (max entry of the batch)² (see the L1max bound below), and the
hidden layer's squared outputs at initialization, layer_norm_j = (1/m) Σ_i [u⁰_j·x_i + b⁰_j]₊².

Bounds (each is m times the square of a bound on the generalization gap, i.e. an effective
sample complexity, as in the code)::

    VC bound       VC = 2 + P·log₂(8e(h+2C)·log₂(4e(h+2C)))·(2(D+1)h + (h+1)C)/((D+1)h + (h+1)C)
                   8·C·VC·ln(e·max(m/VC, 1)) + 8 ln(2/δ)                    (Harvey et al. 2017)
    L1max bound    (8C·L1max_L1max·2√(ln D)·√data_Linf/γ + 3√(ln(m/δ)))²  (Bartlett & Mendelson)
    Fro bound      (8√C·Fro_Fro·√data_L2/γ + 3√(ln(m/δ)))²                (Neyshabur et al. 2015)
    Spec_L1 bound  (144 ln(m) ln(2P)(√data_L2 + 1/√m)
                      ·((σ₁(V)Σ_j‖u_j−u⁰_j‖)^{2/3} + (σ₁(U)Σ_c‖v_c−v⁰_c‖)^{2/3})^{3/2}/γ
                    + √(4.5 ln(1/δ) + ln(2m/γ) + 2 ln(2 + √(m·data_L2))
                        + 2 ln((2+2‖U−U⁰‖_F)(2+2‖V−V⁰‖_F)(2+2σ₁(U))(2+2σ₁(V)))))²
                                                                       (Bartlett et al. 2017)
    Spec_Fro bound (42·8·σ₁(U)·√(ln 8h)·√domain_L2
                      ·√(h(σ₁(V)‖U−U⁰‖_F)² + C(σ₁(U)‖V−V⁰‖_F)²)/(√2 γ))² + 6 ln(2m/δ)
                                                                       (Neyshabur et al. 2018)
    Our bound      (3√2(√(2C)+1)(‖V‖_F+1)(√(Σ_j layer_norm_j) + ‖U−U⁰‖_F√data_L2 + 1)/γ
                    + 3√(5h + ln(max(1, γ√m)/δ)))²                     (the ICLR 2019 paper)

Where the code departs from the papers (the code's form is kept under the code's key, the
paper's under a new key):

* ``Spec_Fro bound``: the code multiplies by a leading σ₁(U) that the spectral-Frobenius
  measure σ₁(U)‖V−V⁰‖_F + √h‖U−U⁰‖_Fσ₁(V) of the paper's comparison (row 5 of its table;
  Neyshabur et al. 2018 with distances to the initialization) does not have: the code's
  R² term is the paper's times σ₁(U)² (so its second term carries σ₁(U)⁴).
  ``"Spec_Fro bound (paper)"`` drops that factor; everything else is the code's.
* ``L1max bound``: the code's data_Linf is the mean over training points of the squared
  largest *signed* entry of the point's mini-batch, (1/m) Σ_batches (max entry)², so it
  depends on the batch size (about max‖x‖²_∞/batch size) and is 1/m times the squared
  largest entry when the whole set is one batch. Bartlett & Mendelson's bound needs the
  domain's ℓ∞ norm, max_i ‖x_i‖²_∞. ``batch_size`` reproduces the code (consecutive batches
  of the given order; default one batch: full-batch training, as in xordsim);
  ``"L1max bound (paper)"`` uses max_i ‖x_i‖²_∞ and the code's constants.
* ``Our bound``: the code's layer_norm is the norm of the hidden layer's output
  [U⁰x + b⁰]₊ (after the ReLU; the code hooks the ReLU module); the paper's theorem has
  ‖U⁰X‖_F, before the ReLU. ``"Our bound (paper)"`` uses (1/m) Σ_i ‖U⁰x_i + b⁰‖² (biases
  kept, as the code's network has them); the code's value is never larger.
* Not changed, noted: Spec_L1 bound's ln(2P) (the code's parameter count, where Bartlett et
  al. write the width), the constants of every bound, and C = 1: the code always has
  C = 10 or 100 classes; for C = 1 we keep its formulas with C = 1 and the binary margin.

The margin γ defaults to the code's: the 5th percentile (``numpy.percentile``, method
"linear") of the training margins f_y(x) − max_{j≠y} f_j(x) when C > 1, y·f(x) when C = 1.
The bounds that divide by γ (all but the VC bound) are undefined for γ ≤ 0 (a training set
the network does not fit with margin on 95 % of the points): they are NaN then, never a
negative or infinite number.

Per-unit capacity and impact (the paper's Theorem 1 / the poster): the capacity of unit j is
β_j = ‖u_j − u⁰_j‖₂ and its impact α_j = ‖v_{:,j}‖₂ (the norm of its outgoing weights over
the C outputs) -- :func:`unit_capacity_impact`.

**The XOR/XORD max-pool network** (:func:`xord_capacity_measures`). N_W(x) = α Σ_j
[max_l σ(w_j·x_l) − max_l σ(u_j·x_l)] is read as a two-layer network whose hidden units are
the 2k filters (U = [w; u], h = 2k, D = 2), whose second layer V = α[1…1, −1…−1] is fixed
(V⁰ = V, C = 1) and which has no biases; the max-pool over the point's patterns replaces the
single ReLU of a unit (max_l σ(z_l) = σ(max_l z_l)). The adaptation, exactly:

* the data a unit sees are the patterns p_l (‖p_l‖² = 2 for all four): data_L2 = mean over
  the training points of ‖p_{l*}‖² = 2 and domain_L2 = max = 2, whichever pattern the
  max-pool selects (not ‖x‖² = 2d of the whole point); data_Linf (code) = (max entry)²/m =
  1/m (full batch, entries ±1), data_Linf (paper) = max ‖p‖²_∞ = 1; D = 2 in ln D and VC;
* layer_norm_j = (1/m) Σ_i (max_{l∈P_{x_i}} σ(u⁰_j·p_l))², the pooled post-ReLU output (for
  "Our bound"), and (1/m) Σ_i (max_{l∈P_{x_i}} u⁰_j·p_l)², the pooled pre-activation (for
  "Our bound (paper)"). The two agree on every point whose pattern set holds an antipodal
  pair ({1,3} or {2,4} ⊆ P_x, then max_l u·p_l >= 0): on most points when d is large,
  so the two bounds are usually equal there;
* ``#parameter`` = 4k, the trained weights only: V is a fixed constant of the architecture
  (not learned, as in the paper) and there are no biases. The VC bound uses it with h = 2k,
  C = 1, D = 2 in the code's formula;
* the margin of a point is y·N_W(x); m is the number of training points (not of distinct
  pattern sets); the default γ is the 5th percentile of the m point margins exactly as
  ``numpy.percentile(margins, 5)`` (method "linear") gives it on the expanded points --
  training sets given as counts get the same number from the order statistics.

Consequences for XORD, by construction: V = V⁰ so Distance2 = 0 and Spec_Dist = Spec_L1max =
0 identically; Frobenius2 = Spectral2 = α√(2k) and L1max2 = 2kα grow with k whatever
training does; "Our bound" ≥ 9(5h + ln(1/δ)) = 9(10k + ln(1/δ)) ≥ 90k grows linearly in k
from its √(5h) term alone; the VC bound grows like k log k although the class of functions
{N_W} takes values on only 15 pattern sets, so its VC dimension is at most 15 for every k
(Brutzkus & Globerson, Remark 4.1): the parameter count overstates the capacity of this
class by a factor that grows with k.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from xordsim._validate import InputError, check_float, check_int
from xordsim.model import check_counts, outputs_all_masks
from xordsim.patterns import PATTERNS

#: The code's keys, in its order, then the papers' forms added here and the margin used.
CODE_KEYS = (
    "Frobenius1", "Frobenius2", "Distance1", "Distance2", "Spectral1", "Spectral2",
    "Fro_Fro", "L1max_L1max", "Spec_Dist", "Dist_Spec", "Spec_Dist_sum", "Spec_L1max",
    "L1max_Spec", "Spec_L1max_sum", "Dist_Fro", "init_Fro", "Dist_Fro_sum", "#parameter",
    "VC bound", "L1max bound", "Fro bound", "Spec_L1 bound", "Spec_Fro bound", "Our bound",
)
PAPER_KEYS = ("L1max bound (paper)", "Spec_Fro bound (paper)", "Our bound (paper)")
#: Every key of the dicts returned here: the code's, the papers' forms, and ``margin`` (γ).
KEYS = CODE_KEYS + PAPER_KEYS + ("margin",)
#: The keys that divide by the margin: NaN when γ <= 0.
MARGIN_BOUNDS = ("L1max bound", "Fro bound", "Spec_L1 bound", "Spec_Fro bound", "Our bound",
                 *PAPER_KEYS)

#: The code's percentile of the training margins for the default γ.
MARGIN_PERCENTILE = 5.0


class NetStats(NamedTuple):
    """What the measures read from a network and its training set, each a float or an array
    of replicas (R,): the norms (see the module docstring for each), the hidden layer's
    summed squared outputs at initialization after (``layer_post``) and before
    (``layer_pre``) the ReLU, the data statistics, and the sizes m, h, C, D, P."""

    fro1: np.ndarray
    fro2: np.ndarray
    dist1: np.ndarray
    dist2: np.ndarray
    spec1: np.ndarray
    spec2: np.ndarray
    spec01: np.ndarray
    l1max1: np.ndarray
    l1max2: np.ndarray
    l1dist1: np.ndarray
    l1dist2: np.ndarray
    layer_post: np.ndarray
    layer_pre: np.ndarray
    data_l2: np.ndarray
    domain_l2: np.ndarray
    data_linf_code: np.ndarray
    data_linf_paper: np.ndarray
    m: np.ndarray
    h: int
    C: int
    D: int
    num_param: int


class UnitCapacity(NamedTuple):
    """Per-unit capacity β_j = ‖u_j − u⁰_j‖₂ and impact α_j = ‖v_{:,j}‖₂, each (..., h)."""

    capacity: np.ndarray
    impact: np.ndarray


def measures_from_stats(st: NetStats, margin, delta: float) -> dict[str, np.ndarray]:
    """Every measure of :data:`KEYS` from the statistics ``st`` and the margin γ (float or
    (R,)), vectorised over replicas; the formulas of the module docstring. Bounds that
    divide by γ are NaN where γ <= 0 or is not finite."""
    g_raw = np.asarray(margin, dtype=float)
    ok = np.isfinite(g_raw) & (g_raw > 0)
    g = np.where(ok, g_raw, 1.0)
    m = np.asarray(st.m, dtype=float)
    h, C, D, P = st.h, st.C, st.D, st.num_param
    nan = np.nan
    out: dict[str, np.ndarray] = {
        "Frobenius1": st.fro1, "Frobenius2": st.fro2,
        "Distance1": st.dist1, "Distance2": st.dist2,
        "Spectral1": st.spec1, "Spectral2": st.spec2,
        "Fro_Fro": st.fro1 * st.fro2,
        "L1max_L1max": st.l1max1 * st.l1max2,
        "Spec_Dist": st.spec1 * st.dist2 * math.sqrt(C),
        "Dist_Spec": st.spec2 * st.dist1 * math.sqrt(h),
    }
    out["Spec_Dist_sum"] = out["Spec_Dist"] + out["Dist_Spec"]
    out["Spec_L1max"] = st.spec1 * st.l1dist2
    out["L1max_Spec"] = st.spec2 * st.l1dist1
    out["Spec_L1max_sum"] = out["Spec_L1max"] + out["L1max_Spec"]
    out["Dist_Fro"] = st.dist1 * st.fro2
    out["init_Fro"] = st.spec01 * st.fro2
    out["Dist_Fro_sum"] = out["Dist_Fro"] + out["init_Fro"]
    out["#parameter"] = np.full(np.shape(m), float(P))

    # Harvey et al. 2017 (VC dimension of piecewise-linear networks); no margin.
    width = h + 2 * C
    vc = 2 + P * math.log2(8 * math.e * width * math.log2(4 * math.e * width)) * (
        (2 * (D + 1) * h + (h + 1) * C) / ((D + 1) * h + (h + 1) * C))
    out["VC bound"] = (8 * (C * vc * np.log(math.e * np.maximum(m / vc, 1.0)))
                       + 8 * math.log(2 / delta))

    conf = 3 * np.sqrt(np.log(m / delta))
    l1 = 8 * C * out["L1max_L1max"] * 2 * math.sqrt(math.log(D))
    out["L1max bound"] = (l1 * np.sqrt(st.data_linf_code) / g + conf) ** 2
    out["Fro bound"] = (8 * math.sqrt(C) * out["Fro_Fro"] * np.sqrt(st.data_l2) / g
                        + conf) ** 2

    spec_l1 = ((st.spec2 * st.l1dist1) ** (2 / 3) + (st.spec1 * st.l1dist2) ** (2 / 3)) ** 1.5
    r = (144 * np.log(m) * math.log(2 * P) * (np.sqrt(st.data_l2) + 1 / np.sqrt(m)) * spec_l1
         / g)
    out["Spec_L1 bound"] = (r + np.sqrt(
        4.5 * math.log(1 / delta) + np.log(2 * m / np.maximum(g, 1e-16))
        + 2 * np.log(2 + np.sqrt(m * st.data_l2))
        + 2 * np.log((2 + 2 * st.dist1) * (2 + 2 * st.dist2) * (2 + 2 * st.spec1)
                     * (2 + 2 * st.spec2)))) ** 2

    spec_fro = (42 * 8 * math.sqrt(math.log(8 * h)) * np.sqrt(st.domain_l2)
                * np.sqrt(h * (st.spec2 * st.dist1) ** 2 + C * (st.spec1 * st.dist2) ** 2)
                / (math.sqrt(2) * g))
    out["Spec_Fro bound"] = (st.spec1 * spec_fro) ** 2 + 6 * np.log(2 * m / delta)

    def ours(layer):
        r = (3 * math.sqrt(2) * (math.sqrt(2 * C) + 1) * (st.fro2 + 1)
             * (np.sqrt(layer) + st.dist1 * np.sqrt(st.data_l2) + 1) / g)
        return (r + 3 * np.sqrt(5 * h + np.log(np.maximum(1.0, g * np.sqrt(m)) / delta))) ** 2

    out["Our bound"] = ours(st.layer_post)
    out["L1max bound (paper)"] = (l1 * np.sqrt(st.data_linf_paper) / g + conf) ** 2
    out["Spec_Fro bound (paper)"] = spec_fro ** 2 + 6 * np.log(2 * m / delta)
    out["Our bound (paper)"] = ours(st.layer_pre)
    for key in MARGIN_BOUNDS:
        out[key] = np.where(ok, out[key], nan)
    out["margin"] = g_raw
    shape = np.broadcast_shapes(*(np.shape(v) for v in out.values()))
    return {key: np.broadcast_to(np.asarray(out[key], dtype=float), shape).copy()
            for key in KEYS}


# ---------------------------------------------------------------------------------------
# The general two-layer network
# ---------------------------------------------------------------------------------------

def _array(name: str, value, shape: tuple[int | None, ...]) -> np.ndarray:
    """``value`` as a float64 array of ``shape`` (None: any length), or InputError."""
    try:
        a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError(f"{name} must be a numeric array of shape "
                         f"{_shape_text(shape)}") from None
    if a.ndim != len(shape) or any(s is not None and s != t for s, t in zip(shape, a.shape,
                                                                            strict=True)):
        raise InputError(f"{name} must have shape {_shape_text(shape)}; got {a.shape}")
    return a


def _shape_text(shape) -> str:
    return "(" + ", ".join("any" if s is None else str(s) for s in shape) + \
        ("," if len(shape) == 1 else "") + ")"


def spectral_norm(A) -> np.ndarray:
    """Largest singular value of the last two axes of ``A`` (NaN where A is not finite)."""
    A = np.asarray(A, dtype=np.float64)
    finite = np.all(np.isfinite(A), axis=(-2, -1))
    safe = np.where(finite[..., None, None], A, 0.0)
    s = np.linalg.svd(safe, compute_uv=False)[..., 0] if A.size else np.zeros(finite.shape)
    return np.where(finite, s, np.nan)


def training_margins(outputs, y) -> np.ndarray:
    """Margins of the code: f_y(x) − max_{j≠y} f_j(x) for outputs (m, C) with C > 1 and
    class indices y; y·f(x) for C = 1 and y ∈ {−1, +1}."""
    f = np.asarray(outputs, dtype=float)
    y = np.asarray(y)
    if f.shape[1] == 1:
        return y * f[:, 0]
    rows = np.arange(f.shape[0])
    others = f.copy()
    others[rows, y] = -np.inf
    return f[rows, y] - others.max(axis=1)


def unit_capacity_impact(U, V, U0) -> UnitCapacity:
    """Per-unit capacity β_j = ‖u_j − u⁰_j‖₂ and impact α_j = ‖v_{:,j}‖₂ (paper, Thm. 1).

    ``U``, ``U0`` (..., h, D) and ``V`` (..., C, h), any leading replica axes; returns
    :class:`UnitCapacity` of two (..., h) arrays.
    """
    U = np.asarray(U, dtype=np.float64)
    U0 = np.asarray(U0, dtype=np.float64)
    V = np.asarray(V, dtype=np.float64)
    if U.ndim < 2 or U.shape != U0.shape:
        raise InputError(f"U and U0 must have equal shapes (..., h, D); got {U.shape}, "
                         f"{U0.shape}")
    if V.ndim < 2 or V.shape[-1] != U.shape[-2]:
        raise InputError(f"V must have shape (..., C, h) with h = {U.shape[-2]}; got {V.shape}")
    return UnitCapacity(np.linalg.norm(U - U0, axis=-1), np.linalg.norm(V, axis=-2))


def capacity_measures(U, b, V, c, U0, b0, V0, c0, X, y, margin: float | None = None,
                      delta: float = 0.01, *, batch_size: int | None = None,
                      num_param: int | None = None) -> dict[str, float]:
    """Neyshabur et al.'s measures and bounds of f(x) = V[Ux + b]₊ + c (see the module).

    Parameters
    ----------
    U, b, V, c : arrays (h, D), (h,), (C, h), (C,)
        The trained network.
    U0, b0, V0, c0 : arrays of the same shapes
        Its initialization (c0 is checked but, as in the code, unused).
    X : array (m, D)
        Training inputs.
    y : array (m,)
        Labels: class indices 0..C−1 when C > 1, ±1 when C = 1.
    margin : float, optional
        γ; default the 5th percentile of the training margins (``numpy.percentile``,
        method "linear") of :func:`training_margins`. Bounds are NaN when γ <= 0.
    delta : float in (0, 1)
        δ, the probability that a bound fails (the code's 0.01).
    batch_size : int, optional
        The mini-batch size of the code's data_Linf (consecutive batches of X in the given
        order); default one batch of all m points.
    num_param : int, optional
        P, the number of trained parameters; default every entry of U, b, V, c, as the code
        counts them (pass another count when some weights are frozen).

    Returns
    -------
    dict
        One float per key of :data:`KEYS`.
    """
    U = _array("U", U, (None, None))
    h, D = U.shape
    if h < 1 or D < 1:
        raise InputError(f"U must have shape (h, D) with h, D >= 1; got {U.shape}")
    b = _array("b", b, (h,))
    V = _array("V", V, (None, h))
    C = V.shape[0]
    if C < 1:
        raise InputError(f"V must have shape (C, {h}) with C >= 1; got {V.shape}")
    c = _array("c", c, (C,))
    U0 = _array("U0", U0, (h, D))
    b0 = _array("b0", b0, (h,))
    V0 = _array("V0", V0, (C, h))
    _array("c0", c0, (C,))
    X = _array("X", X, (None, D))
    m = X.shape[0]
    if m < 1:
        raise InputError(f"X must have shape (m, {D}) with m >= 1; got {X.shape}")
    y = np.asarray(y)
    if y.shape != (m,):
        raise InputError(f"y must have shape ({m},) like the rows of X; got {y.shape}")
    if C == 1:
        if not np.all((y == 1) | (y == -1)):
            raise InputError("y must be ±1 when V has one row (C = 1)")
    elif y.dtype.kind not in "iu" or np.any((y < 0) | (y >= C)):
        raise InputError(f"y must be integer class indices in [0, {C - 1}] (C = {C})")
    delta = check_float("delta", delta, 0.0, 1.0, low_open=True, high_open=True)
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, 1)
    P = h * D + h + C * h + C if num_param is None else check_int("num_param", num_param, 1)

    if margin is None:
        outputs = np.maximum(X @ U.T + b, 0.0) @ V.T + c
        margin = float(np.percentile(training_margins(outputs, y), MARGIN_PERCENTILE))
    else:
        margin = check_float("margin", margin)

    pre0 = X @ U0.T + b0
    post0 = np.maximum(pre0, 0.0)
    bs = m if batch_size is None else batch_size
    batch_max = [X[i:i + bs].max() ** 2 for i in range(0, m, bs)]
    sq = np.sum(X * X, axis=1)
    st = NetStats(
        fro1=np.linalg.norm(U), fro2=np.linalg.norm(V),
        dist1=np.linalg.norm(U - U0), dist2=np.linalg.norm(V - V0),
        spec1=spectral_norm(U), spec2=spectral_norm(V), spec01=spectral_norm(U0),
        l1max1=np.abs(U).sum(axis=1).max(), l1max2=np.abs(V).sum(axis=1).max(),
        l1dist1=np.linalg.norm(U - U0, axis=1).sum(),
        l1dist2=np.linalg.norm(V - V0, axis=1).sum(),
        layer_post=np.sum(post0 * post0) / m, layer_pre=np.sum(pre0 * pre0) / m,
        data_l2=sq.sum() / m, domain_l2=sq.max(),
        data_linf_code=np.sum(batch_max) / m, data_linf_paper=np.max(np.abs(X)) ** 2,
        m=np.asarray(float(m)), h=h, C=C, D=D, num_param=P,
    )
    return {key: float(v) for key, v in measures_from_stats(st, margin, delta).items()}


# ---------------------------------------------------------------------------------------
# The XOR/XORD max-pool network
# ---------------------------------------------------------------------------------------

def percentile_from_counts(values, counts, q: float = MARGIN_PERCENTILE) -> np.ndarray:
    """``numpy.percentile(np.repeat(values[r], counts[r]), q)`` (method "linear") for each
    row r, without expanding: from the order statistics of the counted values.

    ``values`` (R, G) float, ``counts`` (R, G) non-negative integers with a positive row sum.
    Exactly numpy's definition: with n points, virtual index v = (n − 1)·(q/100),
    i = floor(v), g = v − i, a = x_(i), b = x_(i+1) (both x_(n−1) when v >= n − 1), result
    a + (b − a)·g for g < 1/2 and b − (b − a)(1 − g) otherwise. A row with a counted NaN
    gives NaN (as numpy does).
    """
    values = np.asarray(values, dtype=float)
    counts = np.asarray(counts).astype(np.int64)
    R = values.shape[0]
    order = np.argsort(values, axis=1, kind="stable")
    sv = np.take_along_axis(values, order, axis=1)
    cum = np.cumsum(np.take_along_axis(counts, order, axis=1), axis=1)
    n = cum[:, -1]
    v = (n - 1) * np.true_divide(q, 100)
    i = np.floor(v)
    g = v - i
    last = v >= n - 1
    i_lo = np.where(last, n - 1, i).astype(np.int64)
    i_hi = np.where(last, n - 1, i + 1).astype(np.int64)
    rows = np.arange(R)
    a = sv[rows, np.argmax(cum > i_lo[:, None], axis=1)]
    b = sv[rows, np.argmax(cum > i_hi[:, None], axis=1)]
    diff = b - a
    res = np.where(g >= 0.5, b - diff * (1 - g), a + diff * g)
    has_nan = np.any(np.isnan(values) & (counts > 0), axis=1)
    return np.where(has_nan, np.nan, res)


def _filters(w, u, w0, u0):
    arrs = [np.asarray(a, dtype=np.float64) for a in (w, u, w0, u0)]
    shape = arrs[0].shape
    if arrs[0].ndim not in (2, 3) or shape[-1] != 2 or shape[-2] < 1 or any(
            a.shape != shape for a in arrs):
        raise InputError("w, u, w0, u0 must have equal shapes (k, 2) or (R, k, 2); got "
                         + ", ".join(str(a.shape) for a in arrs))
    single = arrs[0].ndim == 2
    return [a[None] if single else a for a in arrs], single


def _training_sets(masks_or_counts, labels, R: int):
    """Training sets as counts (Rd, 2, 16) int64 and, for points, masks and labels (Rd, n)."""
    if labels is None:
        counts = check_counts(masks_or_counts)
        points = None
    else:
        masks = np.asarray(masks_or_counts)
        y = np.asarray(labels)
        if masks.ndim == 1:
            masks, y = masks[None], y[None]
        if masks.ndim != 2 or y.shape != masks.shape or masks.shape[1] < 1:
            raise InputError("masks and labels must have equal shapes (n,) or (R, n) with "
                             f"n >= 1; got {masks.shape}, {y.shape}")
        if masks.dtype.kind not in "iu" or np.any((masks < 1) | (masks > 15)):
            raise InputError("masks must be integer pattern-set masks in [1, 15]")
        if not np.all((y == 1) | (y == -1)):
            raise InputError("labels must be ±1")
        Rd = masks.shape[0]
        keys = (np.arange(Rd)[:, None] * 2 + (y > 0)) * 16 + masks
        counts = np.bincount(keys.ravel(), minlength=Rd * 32).reshape(Rd, 2, 16)
        points = (masks.astype(np.int64), y.astype(float))
    if counts.shape[0] not in (1, R):
        raise InputError(f"got {counts.shape[0]} training sets for {R} replicas (need 1 or "
                         f"{R})")
    return counts.astype(np.int64), points


def _pooled_square_sums(U0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Σ_j (max_{l∈M} σ(u⁰_j·p_l))² and Σ_j (max_{l∈M} u⁰_j·p_l)² for every mask M:
    two (R, 16) arrays (column 0, the empty set, 0)."""
    resp = U0 @ PATTERNS.T.astype(float)  # (R, h, 4)
    R = U0.shape[0]
    post = np.zeros((R, 16))
    pre = np.zeros((R, 16))
    for M in range(1, 16):
        cols = [l for l in range(4) if M >> l & 1]
        z = resp[..., cols].max(axis=-1)
        p = np.maximum(z, 0.0)
        post[:, M] = np.sum(p * p, axis=-1)
        pre[:, M] = np.sum(z * z, axis=-1)
    return post, pre


def xord_capacity_measures(w, u, w0, u0, masks_or_counts, labels=None,
                           output_scale: float = 1.0, margin=None,
                           delta: float = 0.01) -> dict[str, np.ndarray | float]:
    """The capacity measures of the max-pool network N_W of Eq. 2 (Eq. 1 when d = 1).

    The adaptation (hidden units = the 2k filters, V = α[1…1, −1…−1] fixed, pattern norms,
    the pooled layer norm, ``#parameter`` = 4k) and its consequences are in the module
    docstring.

    Parameters
    ----------
    w, u, w0, u0 : arrays (k, 2) or (R, k, 2)
        Final and initial filters (R replicas).
    masks_or_counts : array
        The training set(s): pattern-set masks of the points, (n,) or (R, n) integers in
        1..15, with ``labels``; or, with ``labels=None``, counts (2, 16) or (R, 2, 16) over
        (label, mask) as :func:`xordsim.data.sample_mask_counts` gives them (row 0: y = −1,
        row 1: y = +1). One shared set, or one per replica.
    labels : array, optional
        ±1 labels of the points, the shape of the masks.
    output_scale : float > 0
        α of N_W = α Σ(…) (default 1, the paper's network), as in
        :func:`xordsim.model.outputs_all_masks`.
    margin : float or array (R,), optional
        γ; default per replica the 5th percentile of the m point margins y·N_W(x)
        (``numpy.percentile``, method "linear", on the points; the same number from the
        counts). Bounds are NaN where γ <= 0.
    delta : float in (0, 1)

    Returns
    -------
    dict
        Every key of :data:`KEYS`: floats for filters (k, 2), arrays (R,) for (R, k, 2).
    """
    (w, u, w0, u0), single = _filters(w, u, w0, u0)
    R, k = w.shape[:2]
    alpha = check_float("output_scale", output_scale, 0.0, low_open=True)
    delta = check_float("delta", delta, 0.0, 1.0, low_open=True, high_open=True)
    counts, points = _training_sets(masks_or_counts, labels, R)
    counts = np.broadcast_to(counts, (R, 2, 16))
    n_mask = counts.sum(axis=1)  # (R, 16) points per mask, both labels
    m = n_mask.sum(axis=1).astype(float)

    if margin is None:
        out = alpha * outputs_all_masks(w, u)  # (R, 16)
        if points is None:
            vals = np.concatenate([-out, out], axis=1)  # key = 16·[y > 0] + mask
            gamma = percentile_from_counts(vals, counts.reshape(R, 32))
        else:
            masks, y = (np.broadcast_to(a, (R, a.shape[1])) for a in points)
            margins = y * np.take_along_axis(out, masks, axis=1)
            gamma = np.percentile(margins, MARGIN_PERCENTILE, axis=1)
    else:
        gamma = np.asarray(margin, dtype=float)
        if gamma.shape not in ((), (R,)):
            raise InputError(f"margin must be a number or an array of shape ({R},); got "
                             f"shape {gamma.shape}")
        gamma = np.broadcast_to(gamma, (R,))

    U = np.concatenate([w, u], axis=1)
    U0 = np.concatenate([w0, u0], axis=1)
    h = 2 * k
    post, pre = _pooled_square_sums(U0)
    v_fro = alpha * math.sqrt(h)
    zeros = np.zeros(R)
    st = NetStats(
        fro1=np.linalg.norm(U, axis=(1, 2)), fro2=np.full(R, v_fro),
        dist1=np.linalg.norm(U - U0, axis=(1, 2)), dist2=zeros,
        spec1=spectral_norm(U), spec2=np.full(R, v_fro), spec01=spectral_norm(U0),
        l1max1=np.abs(U).sum(axis=2).max(axis=1), l1max2=np.full(R, alpha * h),
        l1dist1=np.linalg.norm(U - U0, axis=2).sum(axis=1), l1dist2=zeros,
        layer_post=np.sum(n_mask * post, axis=1) / m, layer_pre=np.sum(n_mask * pre, axis=1) / m,
        data_l2=np.full(R, 2.0), domain_l2=np.full(R, 2.0),
        data_linf_code=1.0 / m, data_linf_paper=np.ones(R),
        m=m, h=h, C=1, D=2, num_param=4 * k,
    )
    res = measures_from_stats(st, gamma, delta)
    if single:
        return {key: float(v[0]) for key, v in res.items()}
    return res


def xord_unit_capacity_impact(w, u, w0, u0, output_scale: float = 1.0) -> UnitCapacity:
    """β_j = ‖u_j − u⁰_j‖ over the 2k filters (w's first, then u's) and α_j = α for
    every one (V = α[1…1, −1…−1]): two arrays (..., 2k)."""
    (w, u, w0, u0), single = _filters(w, u, w0, u0)
    alpha = check_float("output_scale", output_scale, 0.0, low_open=True)
    U = np.concatenate([w, u], axis=1)
    U0 = np.concatenate([w0, u0], axis=1)
    res = UnitCapacity(np.linalg.norm(U - U0, axis=-1), np.full(U.shape[:2], alpha))
    return UnitCapacity(*(a[0] for a in res)) if single else res


__all__ = [
    "CODE_KEYS",
    "KEYS",
    "MARGIN_BOUNDS",
    "PAPER_KEYS",
    "NetStats",
    "UnitCapacity",
    "capacity_measures",
    "measures_from_stats",
    "percentile_from_counts",
    "spectral_norm",
    "training_margins",
    "unit_capacity_impact",
    "xord_capacity_measures",
    "xord_unit_capacity_impact",
]
