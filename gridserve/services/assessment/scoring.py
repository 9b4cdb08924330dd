"""The scoring formulas of a scorecard: pure arithmetic, no database.

- :func:`points` turns one indicator's figure into points by its ``scoring`` (see
  :mod:`gridserve.models.assessment.templates`): ``share`` (× weight; ``invert`` scores
  1 − share), ``target`` (achieved ÷ target × weight), ``relative`` (own ratio ÷ the ratio of
  all targets together × weight × factor), ``entered`` (value ÷ scale × weight); never more
  than ``cap`` × weight, never below 0. Too little data (``count`` under ``min_count``) is
  not rated: ``None``.
- :func:`total` adds the rated points, scales them to 100 over the rated weights when some
  indicator is not rated (so a card is not pulled down by what could not be measured), takes
  off the deductions (never below 0) and rounds half-up to two decimals.
- :func:`grade` reads the template's bands on that rounded total: lower bounds inclusive, so
  93.00 is excellent and 92.99 good.

Points are :class:`~decimal.Decimal` rounded half-up to two decimals at each line, as a
printed scorecard shows them; totals add the rounded lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from gridserve.models.assessment.templates import DEFAULT_BANDS, GRADE_NAMES

CENT = Decimal("0.01")
HUNDRED = Decimal(100)


def round2(value: Decimal | float | int) -> Decimal:
    """``value`` rounded half-up to two decimals (92.995 → 93.00)."""
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class Rule:
    """How one indicator scores (the columns of ``assessment_indicators`` that matter here)."""

    weight: int
    scoring: str
    cap: float = 1.0
    invert: bool = False
    target: float | None = None
    factor: float = 1.0
    scale: float = 100.0
    min_count: int = 1


@dataclass(frozen=True)
class Points:
    """One indicator's result: the value scored (a share, an attainment, a relative ratio or
    the entered value ÷ scale), its points and whether the cap cut them."""

    value: float
    score: Decimal
    capped: bool


def ratio(numerator: float, denominator: float) -> float | None:
    """``numerator / denominator``, or None when there is nothing to divide by."""
    return numerator / denominator if denominator else None


def points(
    rule: Rule,
    *,
    numerator: float = 0.0,
    denominator: float = 0.0,
    count: int | None = None,
    overall: float | None = None,
    entered: float | None = None,
) -> Points | None:
    """The points of one indicator for one target, or None when it is not rated.

    ``numerator``/``denominator``: the target's figures (covered/held pairs, visits/target
    units, settled on time/settled…); ``count``: the records the figure rests on (default
    ``denominator``), compared with ``min_count``; ``overall``: for ``relative``, the ratio of
    all the run's targets together; ``entered``: for ``entered``, the assessor's value.
    """
    if rule.scoring == "entered":
        if entered is None:
            return None
        value = entered / rule.scale if rule.scale else 0.0
    else:
        if (denominator if count is None else count) < rule.min_count:
            return None
        own = ratio(numerator, denominator)
        if own is None:
            return None
        if rule.scoring == "share":
            value = 1.0 - own if rule.invert else own
        elif rule.scoring == "target":
            if not rule.target:
                raise ValueError("a target indicator needs its target")
            # ``denominator`` counts the units the target applies to (cell-months held).
            value = own / rule.target
        elif rule.scoring == "relative":
            if not overall:
                return None
            value = own / overall * rule.factor
        else:
            raise ValueError(f"unknown scoring {rule.scoring!r}")
    value = max(value, 0.0)
    raw = Decimal(str(value)) * rule.weight
    ceiling = Decimal(str(rule.cap)) * rule.weight
    capped = raw > ceiling
    return Points(value=value, score=round2(min(raw, ceiling)), capped=capped)


@dataclass(frozen=True)
class Total:
    """A card's total: the points of the rated lines (scaled to 100 when some are not rated),
    the deductions, the weights rated and the rounded total."""

    earned: Decimal
    rated_weight: int
    deducted: Decimal
    total: Decimal | None


def total(lines: Iterable[tuple[int, Decimal | None]], deductions: Iterable[Decimal] = ()) -> Total:
    """The total of a card from its ``(weight, score)`` lines (score None: not rated) and its
    deductions (see the module's rules). No rated line: no total (None)."""
    earned = Decimal(0)
    rated_weight = 0
    for weight, score in lines:
        if score is None:
            continue
        earned += score
        rated_weight += weight
    deducted = sum((Decimal(str(d)) for d in deductions), Decimal(0))
    if not rated_weight:
        return Total(earned=earned, rated_weight=0, deducted=deducted, total=None)
    scaled = earned * HUNDRED / rated_weight if rated_weight != 100 else earned
    return Total(
        earned=earned,
        rated_weight=rated_weight,
        deducted=deducted,
        total=round2(max(scaled - deducted, Decimal(0))),
    )


def grade(value: Decimal | float | None, bands: Mapping[str, float] | None = None) -> str | None:
    """``excellent``, ``good``, ``pass`` or ``fail`` for a total (rounded half-up to two
    decimals first), by ``bands`` (lower bounds, inclusive; default 93 / 85 / 75)."""
    if value is None:
        return None
    bands = bands or DEFAULT_BANDS
    rounded = round2(value)
    for name in ("excellent", "good", "pass"):
        if rounded >= Decimal(str(bands[name])):
            return name
    return "fail"


def grade_name(code: str | None) -> str:
    """The grade as shown: 优秀 / 良好 / 合格 / 不合格 (empty when not graded)."""
    return GRADE_NAMES.get(code or "", "")


def check_bands(bands: Mapping[str, float]) -> list[str]:
    """What is wrong with a template's bands (empty when they are good): all three present,
    within 0..100, excellent > good > pass."""
    problems = []
    names = ("excellent", "good", "pass")
    missing = [n for n in names if n not in bands]
    if missing:
        return [f"Missing: {', '.join(missing)}."]
    values = [float(bands[n]) for n in names]
    if any(not 0 <= v <= 100 for v in values):
        problems.append("Each band is between 0 and 100.")
    if not values[0] > values[1] > values[2]:
        problems.append("excellent > good > pass.")
    return problems
