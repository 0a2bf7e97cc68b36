"""The test gateway and card validation, without the database."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta

import pytest

from commerce.errors import ValidationError, WebhookRejected
from commerce.payments import sandbox_gateway as tg
from commerce.payments.provider import (
    FAILED,
    NOT_FOUND,
    REQUIRES_ACTION,
    SUCCEEDED,
    CardDetails,
    luhn_ok,
    validate_card,
)

TODAY = date(2026, 6, 15)
SECRET = "whsec_test"


def gateway(**kw) -> tg.SandboxGateway:
    return tg.SandboxGateway(webhook_secret=SECRET, clock=lambda: datetime(2026, 6, 15, 12), **kw)


def valid(number: str = tg.SUCCESS_CARD, **kw):
    values = {"exp_month": 12, "exp_year": 2027, "cvc": "123", **kw}
    return validate_card(CardDetails(number=number, **values), today=TODAY)


@pytest.mark.parametrize(
    ("number", "status", "code"),
    [
        (tg.SUCCESS_CARD, SUCCEEDED, None),
        ("5555 5555 5555 4444", SUCCEEDED, None),  # any other valid number succeeds
        (tg.DECLINE_CARD, FAILED, "card_declined"),
        (tg.INSUFFICIENT_FUNDS_CARD, FAILED, "insufficient_funds"),
        (tg.PROCESSING_ERROR_CARD, FAILED, "processing_error"),
        (tg.REQUIRES_ACTION_CARD, REQUIRES_ACTION, None),
    ],
)
def test_card_number_decides_the_outcome(number, status, code):
    result = gateway().authorize(
        amount=500, currency="USD", card=valid(number), reference="c1", idempotency_key="k"
    )
    assert (result.status, result.error_code) == (status, code)
    assert result.reference
    if status == SUCCEEDED:
        assert result.expires_at == datetime(2026, 6, 22, 12)  # 7 days by default
    if status == REQUIRES_ACTION:
        assert result.action_token


def test_authorization_lifetime_is_configurable():
    result = gateway(authorization_ttl=timedelta(hours=1)).authorize(
        amount=1, currency="USD", card=valid(), reference="c", idempotency_key="k"
    )
    assert result.expires_at == datetime(2026, 6, 15, 13)


def test_requires_action_confirms_with_its_token_only():
    gw = gateway()
    result = gw.authorize(
        amount=1,
        currency="USD",
        card=valid(tg.REQUIRES_ACTION_CARD),
        reference="c",
        idempotency_key="k",
    )
    assert gw.confirm(provider_reference=result.reference, token=result.action_token).ok
    wrong = gw.confirm(provider_reference=result.reference, token="tg_act_nope")
    assert (wrong.status, wrong.error_code) == (FAILED, "authentication_failed")
    other = gateway().authorize(
        amount=1,
        currency="USD",
        card=valid(tg.REQUIRES_ACTION_CARD),
        reference="c",
        idempotency_key="k",
    )
    assert not gw.confirm(provider_reference=other.reference, token=result.action_token).ok


@pytest.mark.parametrize(
    ("kw", "fields"),
    [
        ({"number": "4242424242424241"}, {"card_number"}),  # Luhn fails
        ({"number": "4242 4242 4242 424x"}, {"card_number"}),
        ({"number": ""}, {"card_number"}),
        ({"number": "4242"}, {"card_number"}),
        ({"exp_year": 2025}, {"card_exp_year"}),
        ({"exp_year": 2026, "exp_month": 5}, {"card_exp_month"}),
        ({"exp_month": 13}, {"card_exp_month"}),
        ({"exp_month": "ab"}, {"card_exp_month"}),
        ({"exp_year": ""}, {"card_exp_year"}),
        ({"cvc": "12"}, {"card_cvc"}),
        ({"cvc": "12345"}, {"card_cvc"}),
        ({"cvc": "12a"}, {"card_cvc"}),
        (
            {"number": "4000000000000001", "cvc": "1", "exp_year": 2020},
            {"card_number", "card_cvc", "card_exp_year"},
        ),
    ],
)
def test_invalid_card_fields_are_reported_at_their_field(kw, fields):
    values = {"number": tg.SUCCESS_CARD, "exp_month": 12, "exp_year": 2027, "cvc": "123", **kw}
    with pytest.raises(ValidationError) as caught:
        validate_card(CardDetails(**values), today=TODAY)
    assert set(caught.value.errors) == fields
    assert caught.value.field in fields


def test_valid_edge_cases():
    assert valid(exp_year=2026, exp_month=6).exp_month == 6  # this month is still valid
    assert valid(exp_year="27").exp_year == 2027  # two-digit years
    assert valid(cvc="1234").cvc == "1234"
    card = valid("4242-4242-4242-4242")
    assert (card.brand, card.last4) == ("visa", "4242")
    assert luhn_ok("79927398713") and not luhn_ok("79927398710")


def test_card_repr_never_shows_the_number_or_cvc():
    details = CardDetails(number=tg.SUCCESS_CARD, exp_month=12, exp_year=2027, cvc="987")
    for text in (repr(details), str(details), repr(valid(cvc="987"))):
        assert tg.SUCCESS_CARD not in text and "987" not in text and "4242" in text


# -- webhooks -----------------------------------------------------------------------------------


def test_webhook_signed_by_the_gateway_verifies():
    gw = gateway()
    headers, body = gw.build_webhook(
        "payment.authorized", {"payment_reference": "r1"}, event_id="evt_1"
    )
    event = gw.verify_webhook(headers, body)
    assert (event.id, event.type, event.data) == (
        "evt_1",
        "payment.authorized",
        {"payment_reference": "r1"},
    )
    lower = {k.lower(): v for k, v in headers.items()}  # header names are case-insensitive
    assert gw.verify_webhook(lower, body).id == "evt_1"


@pytest.mark.parametrize(
    "reason", ["bad_signature", "tampered", "wrong_secret", "missing", "malformed"]
)
def test_webhook_with_a_bad_signature_is_rejected(reason):
    gw = gateway()
    headers, body = gw.build_webhook("payment.failed", {"payment_reference": "r1"})
    if reason == "bad_signature":
        headers = {tg.SIGNATURE_HEADER: headers[tg.SIGNATURE_HEADER][:-4] + "0000"}
    elif reason == "tampered":
        body = body.replace(b"payment.failed", b"payment.authorized")
    elif reason == "wrong_secret":
        headers, body = tg.SandboxGateway(webhook_secret="other").build_webhook(
            "payment.failed", {}
        )
    elif reason == "missing":
        headers = {}
    else:
        headers = {tg.SIGNATURE_HEADER: "garbage"}
    with pytest.raises(WebhookRejected):
        gw.verify_webhook(headers, body)


def test_webhook_outside_the_replay_window_is_rejected():
    gw = gateway()
    now = time.time()
    headers, body = gw.build_webhook("payment.failed", {}, timestamp=int(now) - 301)
    with pytest.raises(WebhookRejected) as caught:
        gw.verify_webhook(headers, body, now=now)
    assert caught.value.details["reason"] == "stale"
    headers, body = gw.build_webhook("payment.failed", {}, timestamp=int(now) - 299)
    assert gw.verify_webhook(headers, body, now=now)
    headers, body = gw.build_webhook("payment.failed", {}, timestamp=int(now) + 3600)
    with pytest.raises(WebhookRejected):
        gw.verify_webhook(headers, body, now=now)


def test_webhook_body_that_is_not_an_event_is_rejected():
    gw = gateway()
    body = b"not json"
    headers = {tg.SIGNATURE_HEADER: gw.sign(body, timestamp=int(time.time()))}
    with pytest.raises(WebhookRejected):
        gw.verify_webhook(headers, body)


# -- memory: idempotent per key, shared by processes, asked afterwards -------------------------


def test_the_same_key_answers_the_first_result_even_a_decline():
    gw = gateway()
    declined = gw.authorize(
        amount=500, currency="USD", card=valid(tg.DECLINE_CARD), reference="c", idempotency_key="k"
    )
    again = gw.authorize(
        amount=500, currency="USD", card=valid(), reference="c", idempotency_key="k"
    )
    assert (again.status, again.reference) == (FAILED, declined.reference)
    other = gw.authorize(
        amount=999, currency="USD", card=valid(), reference="c", idempotency_key="k"
    )
    assert other.error_code == "idempotency_key_reused"


def test_an_authorization_allows_one_capture_and_no_capture_after_a_void():
    gw = gateway()
    auth = gw.authorize(
        amount=500, currency="USD", card=valid(), reference="c", idempotency_key="a"
    )
    first = gw.capture(
        provider_reference=auth.reference, amount=500, currency="USD", idempotency_key="c1"
    )
    repeat = gw.capture(
        provider_reference=auth.reference, amount=500, currency="USD", idempotency_key="c1"
    )
    assert first.ok and (repeat.status, repeat.reference) == (SUCCEEDED, first.reference)
    second = gw.capture(
        provider_reference=auth.reference, amount=500, currency="USD", idempotency_key="c2"
    )
    assert second.error_code == "already_captured"
    assert gw.void(provider_reference=auth.reference).error_code == "not_voidable"
    other = gw.authorize(amount=5, currency="USD", card=valid(), reference="c", idempotency_key="b")
    assert gw.void(provider_reference=other.reference).ok
    assert gw.void(provider_reference=other.reference).ok  # voiding again succeeds again
    late = gw.capture(
        provider_reference=other.reference, amount=5, currency="USD", idempotency_key="c3"
    )
    assert late.error_code == "not_authorized"
    refund = gw.refund(
        provider_reference=auth.reference, amount=600, currency="USD", idempotency_key="r"
    )
    assert refund.error_code == "amount_too_large"


def test_lookup_answers_what_was_done_or_never_seen():
    gw = gateway()
    assert gw.lookup(kind="authorize", idempotency_key="nope").status == NOT_FOUND
    auth = gw.authorize(
        amount=500,
        currency="USD",
        card=valid(tg.REQUIRES_ACTION_CARD),
        reference="c",
        idempotency_key="a",
    )
    waiting = gw.lookup(kind="authorize", idempotency_key="a")
    assert (waiting.status, waiting.action_token) == (REQUIRES_ACTION, auth.action_token)
    gw.confirm(provider_reference=auth.reference, token=auth.action_token)
    assert gw.lookup(kind="authorize", provider_reference=auth.reference).status == SUCCEEDED
    assert gw.lookup(kind="capture", idempotency_key="c").status == NOT_FOUND
    gw.capture(provider_reference=auth.reference, amount=500, currency="USD", idempotency_key="c")
    found = gw.lookup(kind="capture", idempotency_key="c")
    assert (found.status, found.amount) == (SUCCEEDED, 500)
    assert gw.lookup(kind="void", provider_reference=auth.reference).status == NOT_FOUND


def _authorize_in_a_process(path: str, key: str, queue) -> None:
    gw = tg.SandboxGateway(webhook_secret=SECRET, store=path)
    result = gw.authorize(
        amount=700, currency="USD", card=valid(), reference="shared", idempotency_key=key
    )
    queue.put(result.reference)


def test_processes_share_the_memory_and_a_key_authorizes_once(tmp_path):
    import multiprocessing

    path = str(tmp_path / "gateway.sqlite3")
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(target=_authorize_in_a_process, args=(path, "same-key", queue))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    references = {queue.get(timeout=10) for _ in workers}
    assert len(references) == 1  # four processes, one authorization
    here = tg.SandboxGateway(webhook_secret=SECRET, store=path)
    assert [a["reference"] for a in here.store.authorizations("shared")] == list(references)
