"""OpenAPI operation ids are the route functions' plain names, one per operation.

A client generated from ``/openapi.json`` names its methods after the operation ids:
``create_decision``, not FastAPI's default ``create_decision_v1_decisions_post``. Two
route functions of one name would give two operations one id, so the app refuses to
start with them.
"""

from __future__ import annotations

import re

import pytest
from fastapi import APIRouter, FastAPI

from access.principal import Role
from api.app import check_operation_ids, operation_id

on_sqlite = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

SNAKE_CASE = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")


def _operations(service) -> dict[tuple[str, str], str]:
    answer = service.client.get("/openapi.json", headers=service.as_role(Role.MARKETPLACE))
    assert answer.status_code == 200
    return {(method.upper(), path): operation["operationId"]
            for path, operations in answer.json()["paths"].items()
            for method, operation in operations.items()}


@on_sqlite
def test_every_operation_id_is_a_unique_plain_snake_case_name(service):
    operations = _operations(service)
    ids = list(operations.values())

    assert len(ids) == len(set(ids))
    assert [name for name in ids if not SNAKE_CASE.fullmatch(name)] == []
    assert [name for name in ids if re.search(r"_(get|post|put|patch|delete)$", name)] == []


@on_sqlite
def test_the_marketplace_calls_read_as_the_route_functions_are_named(service):
    operations = _operations(service)

    assert operations[("POST", "/v1/decisions")] == "create_decision"
    assert operations[("GET", "/v1/decisions/{decision_id}")] == "read_decision"
    assert operations[("POST", "/v1/lines/{line_id}/draws")] == "create_draw"
    assert operations[("POST", "/v1/lines/{line_id}/repayments")] == "create_repayment"
    assert operations[("GET", "/v1/lines/{line_id}")] == "read_line"
    assert operations[("POST", "/v1/orders")] == "ingest_orders"


def _app_with(*routers: APIRouter) -> FastAPI:
    app = FastAPI(generate_unique_id_function=operation_id)
    for router in routers:
        app.include_router(router)
    return app


def test_two_route_functions_of_one_name_stop_the_app_from_starting():
    first, second = APIRouter(prefix="/v1"), APIRouter(prefix="/v2")

    @first.get("/lines")
    def read_lines() -> dict[str, str]:
        return {}

    @second.get("/lines", name="read_lines")
    def read_lines_again() -> dict[str, str]:
        return {}

    check_operation_ids(_app_with(first))  # one of them is fine
    with pytest.raises(RuntimeError, match="'read_lines' names two operations"):
        check_operation_ids(_app_with(first, second))


def test_a_route_left_out_of_the_document_may_share_a_name():
    api, pages = APIRouter(), APIRouter(include_in_schema=False)

    @api.get("/cases")
    def cases() -> dict[str, str]:
        return {}

    @pages.get("/officer/cases", name="cases")
    def cases_page() -> dict[str, str]:
        return {}

    check_operation_ids(_app_with(api, pages))

