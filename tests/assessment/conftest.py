"""The assessment tests' world: the field world, two more workers, two test templates, and
the metrics stand-in holding figures worked out by hand (see :mod:`tests.assessment.fakes`).

Workers (targets of ``t_worker``), with a street run's figures:

- 网格员甲 (worker_a, S1C1): patrol 54 of 60 (cell, day) pairs → 0.9 × 40 = 36.00; visits 36
  over 3 cell-months, target 10 → 1.2 × 30 = 36, capped at 30.00;
- 网格员乙 (S1C1): patrol 30 of 60 → 20.00; visits 15 over 3 → 0.5 × 30 = 15.00;
- 网格员丙 (S1C2): patrol 4 of 5 pairs, under the minimum of 10 → not rated; visits 30 over 3
  → 30.00.

Institutions (targets of ``t_bank``): events held 7 of 10 (DZCB) and 2 of 10 (PSBC); all
together 9 of 20 = 0.45.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from flask import Flask

from gridserve import audit
from gridserve.extensions import db
from gridserve.scope import OPERATOR
from gridserve.services.assessment import metrics
from gridserve.services.assessment import templates as template_service
from gridserve.services.field import workers
from tests.assessment.fakes import BANK_TEMPLATE, WORKER_TEMPLATE, FakeMetrics, fig
from tests.conftest import TEST_ACTOR, Field


@dataclass
class Scored:
    field: Field
    worker_a: int
    worker_b: int
    worker_c: int
    fake: FakeMetrics


@pytest.fixture
def fake_metrics(monkeypatch) -> FakeMetrics:
    return FakeMetrics().install(monkeypatch)


@pytest.fixture
def scored(clean_app: Flask, field: Field, fake_metrics: FakeMetrics) -> Scored:
    world = field.world
    with clean_app.app_context(), audit.acting_as(TEST_ACTOR):
        b = workers.create_worker(OPERATOR, {"area_id": world.community_a, "full_name": "网格员乙"})
        c = workers.create_worker(OPERATOR, {"area_id": world.community_b, "full_name": "网格员丙"})
        template_service.create_template(OPERATOR, WORKER_TEMPLATE)
        template_service.create_template(OPERATOR, BANK_TEMPLATE)
        ids = (b.id, c.id)
        db.session.commit()
    a = field.worker_id
    fake_metrics.targets = {
        "worker": [
            metrics.Target(a, "网格员甲", world.community_a),
            metrics.Target(ids[0], "网格员乙", world.community_a),
            metrics.Target(ids[1], "网格员丙", world.community_b),
        ],
        "institution": [
            metrics.Target(world.bank, "达商行", None),
            metrics.Target(world.other_bank, "邮蓄银行", None),
        ],
    }
    fake_metrics.figures = {
        "patrol_coverage": {a: fig(54, 60), ids[0]: fig(30, 60), ids[1]: fig(4, 5)},
        "visits": {a: fig(36, 3), ids[0]: fig(15, 3), ids[1]: fig(30, 3)},
        "events_held": {world.bank: fig(7, 10), world.other_bank: fig(2, 10)},
    }
    return Scored(field, a, ids[0], ids[1], fake_metrics)
