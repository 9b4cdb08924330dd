"""The scorecard arithmetic: each scoring, the cap, not rated, totals, deductions, bands."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gridserve.services.assessment.scoring import (
    Rule,
    check_bands,
    grade,
    grade_name,
    points,
    round2,
    total,
)


def test_a_share_scores_its_weight_times_the_share() -> None:
    # 54 of 60 (cell, day) pairs fully patrolled: 0.9 × 20 = 18.
    result = points(Rule(weight=20, scoring="share"), numerator=54, denominator=60)
    assert result is not None
    assert result.value == pytest.approx(0.9)
    assert result.score == Decimal("18.00")
    assert not result.capped


def test_an_inverted_share_scores_what_is_not_flagged() -> None:
    # 3 flagged uploads of 120: (1 − 0.025) × 10 = 9.75.
    result = points(Rule(weight=10, scoring="share", invert=True), numerator=3, denominator=120)
    assert result is not None and result.score == Decimal("9.75")


def test_a_target_is_capped_at_cap_times_the_weight() -> None:
    # 30 visits a cell-month expected; 3 cell-months held → 90 expected.
    rule = Rule(weight=15, scoring="target", target=30, cap=1.2)
    half = points(rule, numerator=45, denominator=3)
    assert half is not None and half.score == Decimal("7.50") and not half.capped
    over = points(rule, numerator=180, denominator=3)  # twice the target
    assert over is not None and over.score == Decimal("18.00") and over.capped
    assert over.value == pytest.approx(2.0)


def test_the_default_cap_is_the_weight() -> None:
    result = points(Rule(weight=10, scoring="target", target=1), numerator=5, denominator=2)
    assert result is not None and result.score == Decimal("10.00") and result.capped


def test_relative_scores_against_all_targets_together_times_the_factor() -> None:
    # The branch competition: own ratio / overall ratio × weight × 80 %, capped at 1.2 × weight.
    rule = Rule(weight=10, scoring="relative", factor=0.8, cap=1.2)
    level = points(rule, numerator=50, denominator=100, overall=0.5)
    assert level is not None and level.score == Decimal("8.00")
    better = points(rule, numerator=70, denominator=100, overall=0.5)  # 1.4 × 0.8 = 1.12
    assert better is not None and better.score == Decimal("11.20") and not better.capped
    best = points(rule, numerator=90, denominator=100, overall=0.5)  # 1.44 → cap 1.2
    assert best is not None and best.score == Decimal("12.00") and best.capped
    assert points(rule, numerator=5, denominator=10, overall=0.0) is None


def test_an_entered_value_scores_over_its_scale() -> None:
    # A mystery-shopper average of 88 of 100 on a 10-point line: 8.80.
    rule = Rule(weight=10, scoring="entered")
    result = points(rule, entered=88)
    assert result is not None and result.score == Decimal("8.80")
    assert points(rule) is None  # not yet entered: not rated


def test_too_little_data_is_not_rated() -> None:
    rule = Rule(weight=10, scoring="share", min_count=5)
    assert points(rule, numerator=1, denominator=4) is None
    assert points(rule, numerator=1, denominator=5) is not None
    # The records behind the figure can be counted apart from the denominator.
    assert points(rule, numerator=3, denominator=10, count=2) is None
    assert points(Rule(weight=10, scoring="share", min_count=0), denominator=0) is None


def test_points_are_rounded_half_up_per_line() -> None:
    # 1/3 × 10 = 3.333… → 3.33; 0.5 of a 1-point line = 0.5; 2.675 → 2.68 (half-up).
    assert points(Rule(weight=10, scoring="share"), numerator=1, denominator=3).score == Decimal(
        "3.33"
    )
    assert round2(Decimal("2.675")) == Decimal("2.68")
    assert round2(92.995) == Decimal("93.00")


def test_total_adds_the_lines_and_takes_the_deductions() -> None:
    lines = [(40, Decimal("36.50")), (30, Decimal("27.00")), (30, Decimal("30.00"))]
    result = total(lines, deductions=[Decimal(1), Decimal(1)])
    assert result.earned == Decimal("93.50")
    assert result.rated_weight == 100
    assert result.total == Decimal("91.50")
    assert total(lines, deductions=[Decimal(200)]).total == Decimal("0.00")


def test_a_line_not_rated_leaves_the_base_and_the_rest_is_scaled_to_100() -> None:
    # 60 of the 80 rated points: 75.00, not 60 out of 100.
    result = total([(50, Decimal("40.00")), (30, Decimal("20.00")), (20, None)])
    assert result.rated_weight == 80
    assert result.total == Decimal("75.00")
    assert total([(100, None)]).total is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("100"), "excellent"),
        (Decimal("93.00"), "excellent"),
        (Decimal("92.995"), "excellent"),  # rounds half-up to 93.00 first
        (Decimal("92.99"), "good"),
        (Decimal("85.00"), "good"),
        (Decimal("84.99"), "pass"),
        (Decimal("75.00"), "pass"),
        (Decimal("74.99"), "fail"),
        (Decimal("0"), "fail"),
    ],
)
def test_default_bands_at_their_edges(value: Decimal, expected: str) -> None:
    assert grade(value) == expected


def test_a_template_s_own_bands_and_the_shown_names() -> None:
    bands = {"excellent": 90, "good": 80, "pass": 60}
    assert grade(Decimal("90"), bands) == "excellent"
    assert grade(Decimal("59.99"), bands) == "fail"
    assert grade(None) is None
    assert [grade_name(g) for g in ("excellent", "good", "pass", "fail")] == [
        "优秀",
        "良好",
        "合格",
        "不合格",
    ]


def test_bands_are_checked() -> None:
    assert check_bands({"excellent": 93, "good": 85, "pass": 75}) == []
    assert check_bands({"excellent": 93, "good": 85}) == ["Missing: pass."]
    assert check_bands({"excellent": 80, "good": 85, "pass": 75}) == ["excellent > good > pass."]
    assert check_bands({"excellent": 193, "good": 85, "pass": 75}) == [
        "Each band is between 0 and 100."
    ]
