"""Sharing N cells among communities by workload (largest remainder, at least one each)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from geo.errors import GeometryError


def largest_remainder(weights: Sequence[float], total: int, minimum: int = 1) -> list[int]:
    """Integer shares of ``total`` proportional to ``weights``, each at least ``minimum``.

    Hamilton's method: every unit first gets ``minimum``; the rest is shared by
    the exact quotas' integer parts, then one more to the largest remainders
    (ties to the earlier unit), so the shares add up to ``total`` exactly.
    """
    n = len(weights)
    if n == 0:
        raise GeometryError("no_areas", "There is nothing to share cells among.")
    if total < minimum * n:
        raise GeometryError(
            "too_few_cells",
            f"{total} cells cannot give each of the {n} communities at least {minimum}.",
            cells=total,
            communities=n,
        )
    rest = total - minimum * n
    wsum = float(sum(weights))
    quotas = [rest * w / wsum for w in weights] if wsum > 0 else [rest / n] * n
    shares = [math.floor(q) for q in quotas]
    left = rest - sum(shares)
    by_remainder = sorted(range(n), key=lambda i: (-(quotas[i] - shares[i]), i))
    for i in by_remainder[:left]:
        shares[i] += 1
    return [s + minimum for s in shares]
