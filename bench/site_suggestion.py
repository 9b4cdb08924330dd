"""Site suggestion on the demo street: ours against the integer program solved by CBC.

``python -m bench.site_suggestion`` (or ``python -m bench site_suggestion``)

The demo (with its place register) is loaded into a scratch PostGIS database
(``GRIDSERVE_BENCH_DATABASE_URL``, default ``gridserve_bench_sites`` on the local server,
dropped and created afresh) and read back through the service the API uses
(``gridserve.services.outreach.sites.load_ground``): the street ``QS``'s 29,864 household
places and its candidates of the default types (market, square, school, compound, courtyard).

For ``radius_m`` 300 and 500 the coverage matrix is built once (demand aggregated into
classes of households reached by exactly the same candidates; printed apart) and shared. On
it, for ``count`` 7 and 20, and for no separation rule and for ``min_separation_m`` equal to
the radius:

- ours: :func:`geo.siting.solve` (greedy multi-start, best swaps, iterated local search);
- the anchor: the MCLP as an integer program (Church & ReVelle) over the same matrix — binary
  ``x_j`` per candidate, binary ``y_c`` per demand class weighted by its households,
  ``y_c <= sum of x_j reaching c``, ``sum x_j <= count``, ``x_i + x_j <= 1`` for candidates
  closer than the separation — solved to optimality by PuLP's bundled CBC on one thread
  with no time limit. Building the PuLP model is printed apart; the solver's time is
  ``prob.solve`` (writing the model for CBC, CBC itself, reading the solution back).

Best of three for each. Targets: coverage >= 98 % of the optimum, ours >= 10x faster than
the solver and <= 1 s.
"""

from __future__ import annotations

import argparse
import os
import time

import pulp
from flask_migrate import upgrade

from bench.common import fresh_database
from geo import siting
from gridserve import audit
from gridserve.app import create_app
from gridserve.config import load_settings
from gridserve.crypto import generate_key
from gridserve.db import transaction
from gridserve.extensions import db
from gridserve.models import Area
from gridserve.scope import OPERATOR
from gridserve.services.outreach import sites as site_service
from seeds.loader import load_demo

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/gridserve_bench_sites"
STREET = "QS"
RADII = (300.0, 500.0)
COUNTS = (7, 20)


def _best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - started)
    return min(times), out


def integer_program(inst: siting.Instance, k: int) -> pulp.LpProblem:
    prob = pulp.LpProblem("mclp", pulp.LpMaximize)
    x = [pulp.LpVariable(f"x{j}", cat="Binary") for j in range(inst.candidates)]
    y = [pulp.LpVariable(f"y{c}", cat="Binary") for c in range(inst.classes)]
    prob += pulp.lpSum(int(inst.weight[c]) * y[c] for c in range(inst.classes))
    for c in range(inst.classes):
        reach = inst.reach_idx[inst.reach_ptr[c] : inst.reach_ptr[c + 1]]
        prob += y[c] <= pulp.lpSum(x[j] for j in reach.tolist())
    prob += pulp.lpSum(x) <= k
    for i in range(inst.candidates):
        for j in inst.conflicts(i).tolist():
            if j > i:
                prob += x[i] + x[j] <= 1
    prob.bench_x = x  # type: ignore[attr-defined]
    return prob


def _solve_cbc(prob: pulp.LpProblem) -> tuple[int, list[int]]:
    status = prob.solve(pulp.PULP_CBC_CMD(msg=False, threads=1))
    if pulp.LpStatus[status] != "Optimal":
        raise RuntimeError(f"CBC: {pulp.LpStatus[status]}")
    chosen = [j for j, v in enumerate(prob.bench_x) if (v.value() or 0) > 0.5]  # type: ignore[attr-defined]
    return round(pulp.value(prob.objective)), chosen


def load(url: str):
    """The demo street's ground, read through the service from a fresh database."""
    fresh_database(url)
    env = {
        "GRIDSERVE_ENV": "testing",
        "GRIDSERVE_DATABASE_URL": url,
        "GRIDSERVE_INSTANCE_PATH": "/tmp/gridserve-bench-instance",
        "GRIDSERVE_DATA_KEYS": generate_key(),
    }
    app = create_app(load_settings(env))
    with app.app_context():
        upgrade()
        started = time.perf_counter()
        with audit.acting_as(audit.Actor(kind="cli", name="bench")), transaction():
            load_demo(password="bench-pass-123")
        print(f"demo loaded into {url.rsplit('/', 1)[1]} in {time.perf_counter() - started:.0f} s")
        street = db.session.execute(db.select(Area).where(Area.code == STREET)).scalar_one()
        seconds, ground = _best(
            lambda: site_service.load_ground(OPERATOR, street.id, site_service.DEFAULT_TYPES), 3
        )
        db.session.remove()
    return ground, seconds


def run(url: str | None = None, repeat: int = 3) -> list[dict[str, float]]:
    ground, read_s = load(url or os.environ.get("GRIDSERVE_BENCH_DATABASE_URL", DEFAULT_URL))
    kinds: dict[str, int] = {}
    for t in ground.types:
        kinds[t] = kinds.get(t, 0) + 1
    households = int(ground.households_xy.shape[0])
    print(
        f"street {STREET}: {households:,} household places; {len(ground.types)} candidates ("
        + ", ".join(f"{kinds.get(t, 0)} {t}" for t in site_service.DEFAULT_TYPES)
        + f"); read and projected through the service in {read_s:.3f} s"
    )
    rows = []
    header = (
        f"{'radius':>6} {'sep':>5} {'count':>5} {'ours':>7} {'optimum':>7} {'ours/opt':>8} "
        f"{'baseline':>8} {'ours s':>8} {'CBC s':>8} {'speed-up':>8}"
    )
    for radius in RADII:
        for sep in (0.0, radius):
            build_s, inst = _best(
                lambda r=radius, s=sep: siting.build(
                    ground.candidates_xy, ground.households_xy, r, s
                ),
                repeat,
            )
            conflicts = inst.conflict_idx.size // 2
            print(
                f"\nradius {radius:g} m, min separation {sep:g} m: matrix built in {build_s:.3f} s"
                f" (shared, not timed below): {inst.classes} demand classes, "
                f"{inst.indices.size:,} candidate-class entries, {conflicts:,} conflicting pairs; "
                f"{inst.reachable:,} households within reach of some candidate"
            )
            print(header)
            for k in COUNTS:
                ours_s, chosen = _best(lambda k=k, i=inst: siting.solve(i, k), repeat)
                ours = siting.covered_by(inst, chosen)
                assert siting.feasible(inst, chosen) and len(chosen) == k
                base = siting.covered_by(inst, siting.baseline(inst, k))
                model_started = time.perf_counter()
                prob = integer_program(inst, k)
                model_s = time.perf_counter() - model_started
                cbc_s, (optimum, best) = _best(lambda p=prob: _solve_cbc(p), repeat)
                assert siting.covered_by(inst, best) == optimum and siting.feasible(inst, best)
                print(
                    f"{radius:>6g} {sep:>5g} {k:>5} {ours:>7,} {optimum:>7,} "
                    f"{ours / optimum:>8.2%} {base:>8,} {ours_s:>8.4f} {cbc_s:>8.3f} "
                    f"{cbc_s / ours_s:>7.0f}x   (PuLP model built in {model_s:.2f} s)"
                )
                rows.append(
                    {"radius": radius, "sep": sep, "count": k, "ours": ours, "optimum": optimum,
                     "baseline": base, "ours_s": ours_s, "cbc_s": cbc_s, "build_s": build_s}
                )  # fmt: skip
    worst = min(r["ours"] / r["optimum"] for r in rows)
    slowest = max(r["ours_s"] for r in rows)
    least = min(r["cbc_s"] / r["ours_s"] for r in rows)
    print(
        f"\nworst coverage {worst:.2%} of the optimum (target >= 98 %); slowest {slowest:.3f} s "
        f"(target <= 1 s); smallest speed-up {least:.0f}x (target >= 10x)"
    )
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    run(args.database_url, args.repeat)


if __name__ == "__main__":
    main()
