"""Measures of trained XOR/XORD networks from the related papers (layer 5: above the
engine, below the experiments): the infinite-width kernel and Arora et al.'s complexity,
the empirical NTK, lazy-training diagnostics and the lazy limit's predictor, and
Neyshabur et al.'s capacity measures. See docs/measures.md.
"""
