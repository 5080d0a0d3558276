"""Monte Carlo estimates of the paper's lemmas and theorems, beside their bounds.

Every result is an *event* evaluated on a batch of independent replicas
(initializations, and training sets where the result samples them). The
fraction of replicas where the event holds estimates its probability; the
95% Clopper–Pearson interval (:func:`xordsim.stats.proportion_ci`) is compared
with the paper's bound:

* a lower bound ``P >= b`` is ``consistent`` when the interval's upper end is
  not below ``b`` and ``violated`` otherwise;
* an upper bound ``P <= b`` (only Theorem 6.5 for k = 2, derived from its
  proof) is ``consistent`` when the interval's lower end is not above ``b``;
* parameters that break the result's assumptions give ``outside assumptions``.

Where the probability is known exactly (events at initialization: the
direction of an i.i.d. Gaussian filter is uniform on the circle) the exact
value is reported too. See ``docs/theorems.md`` for every choice made.

The results are declared in :mod:`xordsim.theorems.specs`, and importing this package
(or ``specs``, or ``registry``) imports no NumPy: the names of the simulation modules
(events, exact values, verdicts) load on first use (PEP 562).
"""

from __future__ import annotations

import importlib

from xordsim.theorems.registry import (
    estimate,
    flagged_rows,
    format_bound,
    format_table,
    run_all,
    summary_counts,
    table_columns,
)
from xordsim.theorems.specs import (
    SPECS,
    Spec,
    check_overrides,
    parse_overrides,
    resolve,
    settings_help,
)

#: Heavy names (NumPy / SciPy) -> the submodule defining them, imported on first access.
_LAZY = {
    **dict.fromkeys(
        ["XOR_POINTS", "P", "angle_event", "clustering_event", "exploration_xor_event",
         "exploration_xord_event", "insufficient_exploration_event", "misclassifies_some_a",
         "small_test_error"], "events"),
    **dict.fromkeys(
        ["binom_central_prob", "clustering_bound", "exact_lemma_3_1", "exact_lemma_6_1",
         "exact_thm_3_4a", "m2_lower_bound", "thm_6_5_bound", "thm_6_5_distribution"],
        "exact"),
    **dict.fromkeys(
        ["C_NEGLIGIBLE", "CI_LEVEL", "CONSISTENT", "CONVERGED_MIN", "NON_CONVERGED", "OUTSIDE",
         "VIOLATED", "make_row", "verdict"], "verdicts"),
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "C_NEGLIGIBLE", "CI_LEVEL", "CONSISTENT", "CONVERGED_MIN", "NON_CONVERGED", "OUTSIDE", "P",
    "SPECS", "Spec", "VIOLATED", "XOR_POINTS", "angle_event", "binom_central_prob",
    "check_overrides", "clustering_bound", "clustering_event", "estimate", "exact_lemma_3_1",
    "exact_lemma_6_1", "exact_thm_3_4a", "exploration_xor_event", "exploration_xord_event",
    "flagged_rows", "format_bound", "format_table", "insufficient_exploration_event",
    "m2_lower_bound", "make_row", "misclassifies_some_a", "parse_overrides", "resolve",
    "run_all", "settings_help", "small_test_error", "summary_counts", "table_columns",
    "thm_6_5_bound",
    "thm_6_5_distribution",
    "verdict",
]
