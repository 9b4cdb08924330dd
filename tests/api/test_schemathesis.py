"""The served OpenAPI document against the app itself, in a bounded schemathesis run.

Every operation, a few derandomized examples each, as several roles (admin,
street centre, coordinator, a worker's terminal, an institution contact) over a
small seeded world: no 5xx, every status documented, every body and header as
documented. Bounded so that it takes well under a minute per backend.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 3  # per operation and role
# Operations that would end the run's own session, or that reach out of the process.
SKIP = {("DELETE", "/api/v1/auth/token"), ("PUT", "/api/v1/sms/channels/{code}")}


@pytest.fixture
def st_schema(clean_app):
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", clean_app)


def _operations(schema):
    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in SKIP:
            yield operation


def _run(operation, headers: dict[str, str], failures: list[str]) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def check(case) -> None:
        # The WSGI transport does not undo gzip as an HTTP client would: ask for none.
        case.headers = {**(case.headers or {}), **headers, "Accept-Encoding": "identity"}
        response = case.call()
        try:
            case.validate_response(response, checks=CHECKS)
        except (AssertionError, FailureGroup) as exc:
            kinds = [
                line.strip("- ").strip() for line in str(exc).splitlines() if line.startswith("- ")
            ]
            failures.append(
                f"{operation.method.upper()} {operation.path} -> {response.status_code} "
                f"{kinds}: {response.content[:200].decode(errors='replace')}"
            )

    check()


ROLES = ["admin", "centre", "coordinator", "bank"]


def test_every_operation_keeps_to_the_document(st_schema, auth_as, field, terminal):
    failures: list[str] = []
    roles = {name: auth_as(name) for name in ROLES} | {"terminal": terminal}
    operations = list(_operations(st_schema))
    assert len(operations) > 60
    for operation in operations:
        for headers in roles.values():
            _run(operation, headers, failures)
    assert not failures, "\n".join(failures[:200])
