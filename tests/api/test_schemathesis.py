"""schemathesis against the served OpenAPI document, over real HTTP, on PostgreSQL.

Every operation is called with examples generated from its schema (a few per operation,
derandomized so CI sees the same ones), with a token holding exactly the operation's scope;
path ids are drawn from records that exist as well as from the generated numbers, and
`If-Match` is sometimes `*`, so the calls reach the services and not only the 404s and 412s.
Every answer must be no 5xx, a status the operation documents, of its documented content
type, and match its documented schema.
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from werkzeug.serving import make_server

from bench._server import free_port
from commerce.extensions import db
from commerce.staff.permissions import SCOPES
from commerce.staff.tokens import create_token

pytestmark = pytest.mark.postgres

INVALID_EXAMPLES = 4  # and of data that breaks the schema: refused with a 4xx problem
STATEFUL_SCENARIOS = 10  # sequences of up to 6 calls, chained along the links
EXAMPLES = 10  # per operation: ~45 operations, some 450 requests, in seconds on a quiet machine
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _seed() -> dict[str, list[Any]]:
    """A small shop with one of everything the API serves; returns existing ids by name."""
    from commerce.catalog.media import add_external_image
    from commerce.catalog.taxonomy import create_category, create_collection
    from commerce.checkout.cart import add_to_cart
    from commerce.checkout.services import (
        choose_shipping_method,
        place_order,
        save_information,
        start_checkout,
    )
    from commerce.inventory.services import default_location
    from commerce.orders.fulfillment import fulfil_and_ship
    from commerce.orders.returns import open_return
    from commerce.promotions.coupons import add_coupon_code
    from commerce.promotions.services import create_promotion
    from tests.conftest import TEST_CARD, US_ADDRESS, build_checkout_shop

    shop = build_checkout_shop(stock=50)
    orders = []
    for _ in range(3):
        cart = add_to_cart(None, variant_id=shop.small, quantity=2)
        checkout = start_checkout(cart)
        save_information(checkout, email="ada@example.com", address=US_ADDRESS)
        choose_shipping_method(checkout, code="STD")
        orders.append(place_order(checkout.key, card=TEST_CARD).order)
    location = default_location()
    fulfil_and_ship(
        orders[0], location_id=location.id, carrier="UPS", tracking_number="1Z", by=None
    )
    order_return = open_return(
        orders[0], lines={orders[0].lines[0].id: 1}, reason="Too small", by=None
    )
    category = create_category(name="Clothing", by=None)
    collection = create_collection(title="Summer", by=None)
    add_external_image(shop.product, url="https://cdn.example.com/tee.jpg", by=None)
    promotion = create_promotion(
        by=None,
        name="Summer sale",
        actions=[{"kind": "percent_off_order", "params": {"percent": "10"}}],
        conditions=[],
    )
    add_coupon_code(promotion, code="SUMMER", by=None)
    db.session.commit()
    return {
        "product_id": [shop.product.id],
        "variant_id": [shop.small, shop.medium],
        "order_id": [o.id for o in orders],
        "customer_id": [o.customer_id for o in orders if o.customer_id] or [1],
        "return_id": [order_return.id],
        "category_id": [category.id],
        "collection_id": [collection.id],
        "promotion_id": [promotion.id],
        "job_id": ["00000000-0000-0000-0000-000000000000"],
    }


@pytest.fixture
def served(pg_app: Flask) -> Iterator[tuple[str, dict[str, list[Any]], dict[str, str]]]:
    """The app on PostgreSQL behind a threaded werkzeug server; seeded ids; a token per scope."""
    known = _seed()
    secrets = {scope: create_token(f"fuzz {scope}", scopes=[scope], by=None)[1] for scope in SCOPES}
    db.session.commit()
    server = make_server("127.0.0.1", free_port(), pg_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="api-fuzz", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", known, secrets
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


def _scope(operation: Any) -> str:
    (requirement,) = operation.definition.raw["security"]
    (scope,) = requirement["token"]
    return scope


def _fuzz(
    operation: Any,
    token: str,
    base: str,
    known: dict[str, list[Any]],
    session: Any,
    mode: GenerationMode = GenerationMode.POSITIVE,
) -> Any:
    """A Hypothesis test of one operation: generated cases, some with ids that exist."""

    @settings(
        max_examples=EXAMPLES if mode == GenerationMode.POSITIVE else INVALID_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def run(data: Any) -> None:
        case = data.draw(operation.as_strategy(mode))
        for name in case.path_parameters or {}:
            if name in known:
                choices = [*known[name], case.path_parameters[name]]
                case.path_parameters[name] = data.draw(st.sampled_from(choices))
        count = case.body.get("count") if isinstance(case.body, dict) else None
        if isinstance(count, int | float) and count > 50:
            case.body["count"] = 50  # the job runs inline here: keep it short
        if case.headers and "If-Match" in case.headers:
            case.headers["If-Match"] = data.draw(st.sampled_from(["*", "*", "stale"]))
        case.call_and_validate(
            base_url=base,
            session=session,
            headers={"Authorization": f"Bearer {token}"},
            checks=CHECKS,
        )

    return run


def test_every_operation_answers_as_documented(served):
    base, known, secrets = served
    document = requests.get(f"{base}/api/v1/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    session = requests.Session()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 40
    failures: list[str] = []
    only = os.environ.get("FUZZ_ONLY")  # e.g. "/codes/batch": one operation, while debugging
    for operation in operations:
        if only and only not in operation.path:
            continue
        for mode in GenerationMode:
            run = _fuzz(operation, secrets[_scope(operation)], base, known, session, mode)
            try:
                run()
            except Exception as exc:  # collect every operation's failure, then report all
                detail = "".join(traceback.format_exception(exc)[-12:])
                failures.append(f"{mode} {operation.method.upper()} {operation.path}: {detail}")
    assert not failures, "\n\n".join(failures)


def test_sequences_of_calls_answer_as_documented(served):
    """Stateful: schemathesis chains calls by the links it infers between operations (an id
    one answer returns is the next call's path parameter), with an all-scopes token."""
    base, _known, _secrets = served
    token = create_token("fuzz all", scopes=list(SCOPES), by=None)[1]
    db.session.commit()
    document = requests.get(f"{base}/api/v1/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    session = requests.Session()

    class Sequences(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {
                "base_url": base,
                "session": session,
                "headers": {"Authorization": f"Bearer {token}"},
            }

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS)

    Sequences.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=6,
            derandomize=True,
            database=None,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        )
    )
