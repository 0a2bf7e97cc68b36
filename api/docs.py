"""The OpenAPI document (generated from the views by spectree) and a local page that lists
the operations: no external scripts, so the console's CSP and an offline install both hold.

`flask api spec > docs/openapi.json` regenerates the checked-in copy; a test fails when it
differs from what the code generates, so API changes show in review."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import click
from flask import Flask, Response, current_app, render_template

from api.web import PROBLEM_JSON, bp, spec

PROBLEM_TYPES = {
    "unauthorized": "401: no token, an unknown one, or one that expired or was revoked.",
    "insufficient_scope": "403: the token lacks the scope the operation needs.",
    "forbidden": "403: the action is not allowed.",
    "not_found": "404: no such resource.",
    "invalid": "400 (query) or 422 (body): `errors` points at each field at fault.",
    "malformed": "400: the body is not JSON.",
    "idempotency_key_missing": "400: a POST without an Idempotency-Key header.",
    "idempotency_key_reused": "422: the Idempotency-Key was used with another request.",
    "idempotency_key_in_use": "409: the first request with this key is still running.",
    "precondition_failed": "412: If-Match does not match the current ETag.",
    "precondition_required": "428: send If-Match with the ETag you read.",
    "conflict": "409: the change conflicts with the resource's state.",
    "out_of_stock": "409: not enough units available.",
    "over_receipt": "409: more units than the purchase order line still expects (accept_over).",
    "invalid_transition": "409: the resource cannot go to that state from its current one.",
    "refund_exceeds_capture": "409: more money asked back than was captured and not refunded.",
    "payment_failed": "402: the payment provider declined or failed.",
}


# The headers a write sends, documented on each operation (the API checks them before the view).
HEADERS: dict[str, dict[str, Any]] = {
    "post": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": True,
        "description": "A unique value per operation (a UUID): a repeat with the same key gets "
        "the first answer; the same key with another body is a 422.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    },
    "patch": {
        "name": "If-Match",
        "in": "header",
        "required": True,
        "description": "The ETag of the version you read (412 when it changed since).",
        "schema": {"type": "string", "minLength": 1},
    },
}
HEADERS["put"] = HEADERS["patch"]


# OpenAPI links: where an answer's ids lead (for clients reading the document, and for
# schemathesis's stateful tests, which chain calls along them). (operation, status) ->
# {linked operation: {its path parameter: where the value is in the answer}}.
_ID, _FIRST = "$response.body#/id", "$response.body#/data/0/id"
_ORDER_WRITES = ("create_fulfillment", "cancel_order", "quote_refund", "create_refund")
LINKS: dict[tuple[str, str], dict[str, dict[str, str]]] = {
    ("create_product", "201"): {
        op: {"product_id": _ID}
        for op in (
            "get_product",
            "update_product",
            "set_options",
            "create_variant",
            "list_product_media",
            "add_product_media",
        )
    },
    ("list_products", "200"): {"get_product": {"product_id": _FIRST}},
    ("create_category", "201"): {
        "get_category": {"category_id": _ID},
        "update_category": {"category_id": _ID},
    },
    ("list_categories", "200"): {"get_category": {"category_id": _FIRST}},
    ("create_collection", "201"): {
        op: {"collection_id": _ID}
        for op in (
            "get_collection",
            "update_collection",
            "add_collection_products",
            "remove_collection_products",
        )
    },
    ("list_collections", "200"): {"get_collection": {"collection_id": _FIRST}},
    ("list_orders", "200"): {
        op: {"order_id": _FIRST} for op in ("get_order", *_ORDER_WRITES, "open_return")
    },
    ("create_fulfillment", "201"): {
        op: {"order_id": "$response.body#/order_id"}
        for op in ("get_order", "open_return", "quote_refund", "create_refund")
    },
    ("open_return", "201"): {
        "get_return": {"return_id": _ID},
        "receive_return": {"return_id": _ID},
    },
    ("list_returns", "200"): {"get_return": {"return_id": _FIRST}},
    ("list_customers", "200"): {"get_customer": {"customer_id": _FIRST}},
    ("list_promotions", "200"): {
        op: {"promotion_id": _FIRST}
        for op in ("get_promotion", "list_codes", "create_code", "generate_codes")
    },
    ("create_code", "201"): {"list_codes": {"promotion_id": "$response.body#/promotion_id"}},
    ("generate_codes", "202"): {
        "get_code_job": {"promotion_id": "$response.body#/promotion_id", "job_id": _ID}
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of the Admin API (needs an app context): spectree's, with
    each operation named after its view and errors typed application/problem+json."""
    generated = copy.deepcopy(spec.spec)
    endpoints = {
        (_openapi_path(rule.rule), method.lower()): rule.endpoint.split(".", 1)[1]
        for rule in current_app.url_map.iter_rules()
        if rule.endpoint.startswith(f"{bp.name}.")
        for method in rule.methods or ()
    }
    for path, methods in generated["paths"].items():
        for method, operation in methods.items():
            operation["operationId"] = endpoints.get((path, method), operation["operationId"])
            header = HEADERS.get(method)
            if header is not None:
                operation["parameters"] = [*operation.get("parameters", []), header]
            for status, answer in operation.get("responses", {}).items():
                for target, parameters in LINKS.get((operation["operationId"], status), {}).items():
                    answer.setdefault("links", {})[target] = {
                        "operationId": target,
                        "parameters": parameters,
                    }
                content = answer.get("content", {})
                if int(status) >= 400 and "application/json" in content:
                    answer["content"] = {PROBLEM_JSON: content["application/json"]}
    return generated


def _openapi_path(rule: str) -> str:
    """/api/v1/products/<int:product_id> -> /api/v1/products/{product_id}"""
    return re.sub(r"<(?:[a-z]+:)?(\w+)>", r"{\1}", rule)


def document_text() -> str:
    return json.dumps(document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return Response(document_text(), mimetype="application/json")


@bp.get("/docs")
def docs() -> str:
    operations = []
    for path, methods in document()["paths"].items():
        for method, operation in methods.items():
            scopes = [s for req in operation.get("security", []) for s in req.get("token", [])]
            operations.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "summary": operation.get("summary", ""),
                    "description": operation.get("description", ""),
                    "scopes": scopes,
                    "tags": operation.get("tags", []),
                }
            )
    return render_template(
        "api/docs.html", info=document()["info"], operations=operations, problems=PROBLEM_TYPES
    )


def register_cli(app: Flask) -> None:
    @app.cli.group("api")
    def api_group() -> None:
        """The Admin API."""

    @api_group.command("spec")
    def print_spec() -> None:
        """Print the OpenAPI document (flask api spec > docs/openapi.json)."""
        click.echo(document_text(), nl=False)
