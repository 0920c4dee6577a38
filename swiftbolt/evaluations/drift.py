"""Population stability index (PSI) of a feature's recent values against a reference window.

PSI = sum over bins of (a - e) * ln(a / e), with bins at the reference's deciles, e and a the reference's
and the recent values' shares (each floored at 1e-4 so an empty bin is finite). Usual reading (credit
scoring, where the index comes from): < 0.1 stable, 0.1-0.25 moderate shift, > 0.25 significant shift.
"""

from __future__ import annotations

import math

import numpy as np

PSI_WARN = 0.1
PSI_ALERT = 0.25
_FLOOR = 1e-4


def psi(reference: np.ndarray, recent: np.ndarray, bins: int = 10) -> float:
    ref = np.asarray(reference, float)
    new = np.asarray(recent, float)
    ref, new = ref[np.isfinite(ref)], new[np.isfinite(new)]
    if len(ref) < bins or len(new) == 0:
        return math.nan
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)[1:-1]))
    e = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1) / len(ref)
    a = np.bincount(np.searchsorted(edges, new, side="right"), minlength=len(edges) + 1) / len(new)
    e, a = np.maximum(e, _FLOOR), np.maximum(a, _FLOOR)
    return float(((a - e) * np.log(a / e)).sum())
