"""Measures of trained XOR/XORD networks from the related papers (layer 5: above the
engine, below the experiments): the infinite-width kernel and Arora et al.'s complexity,
the empirical NTK, lazy-training diagnostics and the lazy limit's predictor, and
Neyshabur et al.'s capacity measures. See docs/measures.md.
"""

from xordsim.measures.capacity import (
    capacity_measures,
    unit_capacity_impact,
    xord_capacity_measures,
    xord_unit_capacity_impact,
)
from xordsim.measures.kernel import (
    arora_complexity,
    arora_h_inf,
    xord_complexity,
    xord_gram,
    xord_h_inf,
)
from xordsim.measures.lazy import (
    lazy_diagnostics,
    lazy_lr,
    lazy_predictor,
    lazy_squared_limit,
    lazy_test_error,
    relative_kernel_change,
    relative_weight_change,
    sector_change_fraction,
)
from xordsim.measures.ntk import (
    finite_width_complexity,
    ntk_all_masks,
    ntk_spectrum,
    result_ntk_spectra,
    training_set_spectra,
    xord_ntk_gram,
)
from xordsim.measures.rank import (
    Kendall,
    RankAgreement,
    bootstrap_scores,
    conditional_mutual_information,
    granulated_kendall,
    kendall_tau,
    rank_agreement,
    rank_table,
    sign_error,
)
from xordsim.measures.registry import (
    Evaluation,
    Measure,
    TrainedPoint,
    available,
    evaluate,
    get,
    register,
    unregister,
)

__all__ = [
    "Evaluation", "Kendall", "Measure", "RankAgreement", "TrainedPoint", "arora_complexity",
    "arora_h_inf", "available", "bootstrap_scores", "capacity_measures",
    "conditional_mutual_information", "evaluate", "finite_width_complexity", "get",
    "granulated_kendall", "kendall_tau", "lazy_diagnostics", "lazy_lr", "lazy_predictor",
    "lazy_squared_limit", "lazy_test_error", "ntk_all_masks", "ntk_spectrum", "rank_agreement",
    "rank_table", "register", "relative_kernel_change", "relative_weight_change",
    "result_ntk_spectra", "sector_change_fraction", "sign_error", "training_set_spectra",
    "unit_capacity_impact",
    "unregister", "xord_capacity_measures", "xord_complexity", "xord_gram", "xord_h_inf",
    "xord_ntk_gram", "xord_unit_capacity_impact",
]
