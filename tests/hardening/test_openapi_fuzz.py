"""Fuzzing from the OpenAPI document: no operation answers 5xx, and every answer (status,
content type, body, headers) is one the document declares.

Schemathesis generates valid and invalid requests for every operation of the app's own
OpenAPI description (``app.openapi()``: the served ``/openapi.json`` needs credentials)
and calls the app in process, with an admin API key on every request, against stored
sellers, decisions and credit lines, on SQLite and PostgreSQL. Examples per operation are
bounded and derandomised, so a CI run is reproducible and fast: schemathesis' coverage
phase (a fixed set of boundary and invalid requests for each parameter), then
MAX_EXAMPLES generated valid and invalid requests. A failure lists up to five failing
examples of the operation, with a curl line to replay each.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.config import SchemathesisConfig
from schemathesis.core.failures import FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.generation.hypothesis.builder import (
    HypothesisTestConfig,
    HypothesisTestMode,
    create_test,
)

from access.principal import Role
from api.app import create_app
from settings import Settings
from tests.hardening.conftest import Stack

#: Examples per operation and generation mode: enough to find a 500, small enough for CI.
MAX_EXAMPLES = 20


def _document() -> dict[str, Any]:
    """The OpenAPI document (it does not depend on the database or the model)."""
    folder = Path(tempfile.gettempdir())  # nothing is written: the app is not started
    settings = Settings(data_dir=folder, database_url=f"sqlite:///{folder / 'openapi.db'}")
    document: dict[str, Any] = create_app(settings).openapi()
    return document


DOCUMENT = _document()
OPERATIONS = [(method.upper(), path) for path, methods in DOCUMENT["paths"].items()
              for method in methods]

#: Operations whose failure is known and belongs to another area (see the reason).
KNOWN_FAILURES: dict[tuple[str, str], str] = {}


def _param(method: str, path: str) -> Any:
    reason = KNOWN_FAILURES.get((method, path))
    marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
    return pytest.param(method, path, id=f"{method} {path}", marks=marks)


def _schema(stack: Stack) -> Any:
    config = SchemathesisConfig.from_dict({
        "headers": {"Authorization": f"Bearer {stack.keys[Role.ADMIN]}"},
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True},
    })
    schema = schemathesis.openapi.from_dict(stack.app.openapi(), config=config)
    schema.app = stack.app
    return schema


def _operation(schema: Any, method: str, path: str) -> Any:
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.method.upper() == method and operation.path == path:
            return operation
    raise LookupError(f"{method} {path} is not in the document")


def _known_ids(stack: Stack, operation: Any) -> dict[str, str]:
    """Path parameters naming stored things, so the fuzzer reaches past the 404s."""
    known = {"line_id": stack.line_ids[0], "decision_id": stack.decision_ids[0],
             "seller_id": stack.seller_ids[0]}
    return {name: value for name, value in known.items() if "{" + name + "}" in operation.path}


def _cases(stack: Stack, operation: Any, mode: GenerationMode) -> Any:
    strategy = operation.as_strategy(generation_mode=mode)
    known = _known_ids(stack, operation)
    if known and mode is GenerationMode.POSITIVE:
        strategy = st.one_of(strategy, operation.as_strategy(generation_mode=mode,
                                                             path_parameters=known))
    return strategy


def _fuzz(stack: Stack, operation: Any, mode: GenerationMode) -> list[str]:
    """Run the examples of one generation mode; the report of every failing example."""
    failures: list[str] = []

    @hypothesis.given(case=_cases(stack, operation, mode))
    @hypothesis.settings(max_examples=MAX_EXAMPLES, derandomize=True, deadline=None,
                         database=None, phases=[hypothesis.Phase.generate],
                         suppress_health_check=list(hypothesis.HealthCheck))
    def run(case: Any) -> None:
        try:
            # A schema-valid request may still break a business rule (an as_of in the
            # future, a limit outside the policy's range): a 422 for valid data is fine.
            case.call_and_validate(excluded_checks=[checks.positive_data_acceptance])
        except (AssertionError, FailureGroup) as failure:
            if len(failures) < 5:
                failures.append(f"[{mode.value}] {failure}")

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # No parameter to make invalid (an operation without input): nothing to send.
        assert mode is GenerationMode.NEGATIVE, f"no {mode.value} example of {operation.label}"
    return failures


def _cover(operation: Any, schema: Any) -> list[str]:
    """Schemathesis' coverage phase: a fixed set of boundary and invalid requests per
    operation (each parameter missing, of the wrong type, at and past its limits, an
    unsupported method), sent once each."""
    failures: list[str] = []

    def run(case: Any) -> None:
        try:
            case.call_and_validate(excluded_checks=[checks.positive_data_acceptance])
        except (AssertionError, FailureGroup) as failure:
            if len(failures) < 5:
                failures.append(f"[coverage] {failure}")

    config = HypothesisTestConfig(
        project=schema.config, modes=[HypothesisTestMode.COVERAGE],
        settings=hypothesis.settings(phases=[hypothesis.Phase.explicit], database=None,
                                     deadline=None))
    create_test(operation=operation, test_func=run, config=config)()
    return failures


@pytest.mark.parametrize(("method", "path"), [_param(*operation) for operation in OPERATIONS])
def test_no_operation_fails_or_answers_outside_its_documented_schema(
        module_stack: Stack, method: str, path: str) -> None:
    schema = _schema(module_stack)
    operation = _operation(schema, method, path)

    failures = _cover(operation, schema)
    failures += [failure for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
                 for failure in _fuzz(module_stack, operation, mode)]

    assert not failures, "\n\n".join(failures)


def test_every_operation_of_the_document_is_fuzzed() -> None:
    # The parametrisation comes from the document itself: a new route is fuzzed too.
    assert ("POST", "/v1/lines/{line_id}/draws") in OPERATIONS
    assert {("GET", "/v1/lines/{line_id}/payoff"), ("POST", "/v1/lines/{line_id}/payoff"),
            ("POST", "/v1/lines/{line_id}/balance-refunds")} <= set(OPERATIONS)
    assert len(OPERATIONS) >= 15
