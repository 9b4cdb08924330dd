"""Site suggestion (maximal covering location): the coverage matrix, the baseline, the search.

Small instances are checked against brute force over every set of sites; the property tests
check that the suggestion never covers fewer households than the baseline and always keeps
the separation rule.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo import siting


def _brute(inst: siting.Instance, k: int) -> int:
    """The best coverage of any feasible set of at most ``k`` sites."""
    best = 0
    for size in range(1, k + 1):
        for combo in itertools.combinations(range(inst.candidates), size):
            if siting.feasible(inst, combo):
                best = max(best, siting.covered_by(inst, combo))
    return best


def _cover_by_distance(cand, homes, radius, chosen) -> int:
    if not chosen:
        return 0
    d = np.hypot(*(homes[:, None, :] - cand[None, list(chosen), :]).transpose(2, 0, 1))
    return int((d <= radius).any(axis=1).sum())


def test_pairs_within_match_every_distance_including_the_boundary():
    rng = np.random.default_rng(3)
    cand = rng.uniform(0, 2000, (40, 2))
    homes = rng.uniform(0, 2000, (900, 2))
    homes[0] = cand[0] + [300.0, 0.0]  # exactly on the radius: covered
    c, p = siting.pairs_within(cand, homes, 300.0)
    got = set(zip(c.tolist(), p.tolist(), strict=True))
    d = np.hypot(*(cand[:, None, :] - homes[None, :, :]).transpose(2, 0, 1))
    want = set(zip(*np.nonzero(d <= 300.0), strict=True))
    assert got == {(int(a), int(b)) for a, b in want}
    assert (0, 0) in got
    c, p = siting.pairs_within(cand, homes, 300.0, strict=True)
    assert (0, 0) not in set(zip(c.tolist(), p.tolist(), strict=True))


def test_households_reached_by_the_same_sites_are_one_class():
    cand = np.array([[0.0, 0.0], [100.0, 0.0]])
    homes = np.array([[-50.0, 0.0], [-40.0, 0.0], [50.0, 0.0], [70.0, 0.0], [500.0, 0.0]])
    inst = siting.build(cand, homes, 60.0)
    # {-50, -40}: site 0 only; {50}: both; {70}: site 1 only; 500: nobody.
    assert inst.classes == 3
    assert sorted(inst.weight.tolist()) == [1, 1, 2]
    assert inst.catchment.tolist() == [3, 2]
    assert (inst.total, inst.reachable) == (5, 4)


def test_the_suggestion_beats_top_k_by_catchment_when_the_big_catchments_overlap():
    # Two big, nearly identical catchments in the middle and a smaller one far away: the
    # baseline takes both big ones, the suggestion one big and the far one.
    cand = np.array([[0.0, 0.0], [10.0, 0.0], [5000.0, 0.0]])
    rng = np.random.default_rng(1)
    near = rng.uniform(-50, 50, (100, 2))
    far = rng.uniform(-50, 50, (60, 2)) + np.array([5000.0, 0.0])
    inst = siting.build(cand, np.vstack([near, far]), 200.0)
    assert siting.baseline(inst, 2) == [0, 1]
    assert siting.covered_by(inst, siting.baseline(inst, 2)) == 100
    assert sorted(siting.solve(inst, 2)) == [0, 2]
    assert siting.covered_by(inst, siting.solve(inst, 2)) == 160


def test_the_separation_rule_keeps_sites_apart_in_both_plans():
    cand = np.array([[0.0, 0.0], [50.0, 0.0], [400.0, 0.0]])
    homes = np.array([[25.0, 0.0]] * 10 + [[-60.0, 0.0]] * 3 + [[400.0, 0.0]] * 2)
    inst = siting.build(cand, homes, 100.0, min_separation=100.0)
    for plan in (siting.solve(inst, 2), siting.baseline(inst, 2)):
        assert siting.feasible(inst, plan)
        assert not {0, 1} <= set(plan)
    assert siting.covered_by(inst, siting.solve(inst, 2)) == 15


def test_fewer_sites_when_the_separation_rule_leaves_no_room():
    cand = np.array([[0.0, 0.0], [10.0, 0.0], [20.0, 0.0]])
    homes = np.array([[5.0, 0.0], [15.0, 0.0]])
    inst = siting.build(cand, homes, 50.0, min_separation=100.0)
    assert len(siting.solve(inst, 3)) == 1
    assert len(siting.baseline(inst, 3)) == 1


def test_ties_go_to_the_lower_index_so_answers_repeat():
    cand = np.array([[0.0, 0.0], [0.0, 0.0], [1000.0, 0.0], [1000.0, 0.0]])
    homes = np.array([[0.0, 10.0], [1000.0, 10.0]])
    inst = siting.build(cand, homes, 50.0)
    assert siting.solve(inst, 2) == [0, 2]
    assert siting.baseline(inst, 2) == [0, 1]
    assert siting.ordered(inst, [2, 0]) == [(0, 1, 1), (2, 1, 2)]


def test_ordered_lists_what_each_site_adds_to_those_before_it():
    cand = np.array([[0.0, 0.0], [80.0, 0.0], [1000.0, 0.0]])
    homes = np.array([[40.0, 0.0]] * 5 + [[-40.0, 0.0]] * 2 + [[120.0, 0.0]] * 1)
    inst = siting.build(cand, homes, 50.0)
    # Site 0 reaches 7, site 1 reaches 6 (5 shared), site 2 none.
    assert siting.ordered(inst, [0, 1, 2]) == [(0, 7, 7), (1, 1, 8), (2, 0, 8)]


def test_nothing_to_choose_from():
    inst = siting.build(np.empty((0, 2)), np.array([[0.0, 0.0]]), 100.0)
    assert siting.solve(inst, 3) == [] and siting.baseline(inst, 3) == []
    inst = siting.build(np.array([[0.0, 0.0]]), np.empty((0, 2)), 100.0)
    assert siting.solve(inst, 1) == [0]
    assert (inst.total, inst.reachable) == (0, 0)


@pytest.mark.parametrize("seed", range(12))
def test_small_instances_reach_the_brute_force_optimum(seed):
    rng = np.random.default_rng(seed)
    cand = rng.uniform(0, 1000, (9, 2))
    homes = np.vstack(
        [rng.normal(c, 120, (rng.integers(5, 40), 2)) for c in rng.uniform(0, 1000, (6, 2))]
    )
    sep = [0.0, 150.0, 300.0][seed % 3]
    inst = siting.build(cand, homes, 200.0, min_separation=sep)
    for k in (1, 2, 3):
        chosen = siting.solve(inst, k)
        assert siting.feasible(inst, chosen)
        assert siting.covered_by(inst, chosen) == _brute(inst, k)
        assert siting.covered_by(inst, chosen) == _cover_by_distance(cand, homes, 200.0, chosen)


points = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 40)), min_size=1, max_size=60).map(
    lambda xs: np.array(xs, dtype=float) * 25.0
)


@settings(max_examples=150, deadline=None)
@given(
    cand=points,
    homes=points,
    radius=st.sampled_from([30.0, 100.0, 250.0, 600.0]),
    sep=st.sampled_from([0.0, 50.0, 200.0, 500.0]),
    k=st.integers(1, 8),
)
def test_never_fewer_households_than_the_baseline_and_always_apart(cand, homes, radius, sep, k):
    inst = siting.build(cand, homes, radius, min_separation=sep)
    chosen = siting.solve(inst, k)
    base = siting.baseline(inst, k)
    assert siting.feasible(inst, chosen) and siting.feasible(inst, base)
    assert len(chosen) <= k and len(set(chosen)) == len(chosen)
    assert siting.covered_by(inst, chosen) >= siting.covered_by(inst, base)
    assert siting.covered_by(inst, chosen) == _cover_by_distance(cand, homes, radius, chosen)
    # As many sites as asked unless the rule leaves no candidate open.
    if len(chosen) < min(k, inst.candidates):
        open_ = np.ones(inst.candidates, dtype=bool)
        for i in chosen:
            open_[i] = False
            open_[inst.conflicts(i)] = False
        assert not open_.any()
    assert siting.solve(inst, k) == chosen  # deterministic


@settings(max_examples=60, deadline=None, derandomize=True)  # a heuristic: fixed examples
@given(
    cand=points,
    homes=points,
    radius=st.sampled_from([100.0, 250.0]),
    sep=st.sampled_from([0.0, 200.0]),
    k=st.integers(1, 3),
)
def test_tiny_instances_are_solved_exactly(cand, homes, radius, sep, k):
    """Not a guarantee of the method (it is a heuristic), but on 8 candidates it finds the
    optimum; 3,000 random examples agreed when this was written."""
    cand = cand[:8]
    inst = siting.build(cand, homes, radius, min_separation=sep)
    assert siting.covered_by(inst, siting.solve(inst, k)) == _brute(inst, k)


def test_pairs_within_survive_tiny_distances_and_far_centres():
    homes = np.array([[0.0, 0.0], [10_000.0, 10_000.0], [10_000.0, 10_000.0 + 1e-10]])
    cand = np.array([[10_000.0, 10_000.0], [1e12, -1e12], [-1e15, 0.0]])
    c, p = siting.pairs_within(cand, homes, 1e-9)
    assert sorted(zip(c.tolist(), p.tolist(), strict=True)) == [(0, 1), (0, 2)]
    c, _ = siting.pairs_within(cand, homes, 5000.0)
    assert set(c.tolist()) == {0}


def test_a_matrix_too_large_is_refused_before_it_is_made():
    rng = np.random.default_rng(5)
    with pytest.raises(siting.TooLarge) as caught:
        siting.build(rng.uniform(0, 100, (50, 2)), rng.uniform(0, 100, (400, 2)), 500.0,
                     max_pairs=1000)  # fmt: skip
    assert caught.value.pairs == 50 * 400 and caught.value.limit == 1000
