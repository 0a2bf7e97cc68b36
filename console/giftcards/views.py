"""Gift cards as support sees them: find one by status or the last four characters of its
code, read its ledger, issue one (the code is shown on the answer to the POST, once, and
never again), adjust a balance with a reason, deactivate a card, export the list; and a
customer's store credit with its ledger and an adjustment.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from flask import Response, current_app, request, stream_with_context, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, StringField, TextAreaField
from wtforms.validators import Length, Optional

from commerce.errors import NotFound
from commerce.giftcards.codes import grouped
from commerce.giftcards.models import CARD_STATUSES
from commerce.giftcards.queries import (
    card_ledger,
    export_gift_cards,
    list_gift_cards,
    store_credit_with_ledger,
)
from commerce.giftcards.services import (
    adjust_gift_card,
    adjust_store_credit,
    deactivate_gift_card,
    get_gift_card,
    issue_gift_card,
    shop_currency,
)
from commerce.money import parse_amount
from commerce.orders.queries import get_customer_with_addresses
from console.forms import ConfirmForm
from console.web import done
from web.forms import form_status, submit
from web.pages import render


class IssueForm(FlaskForm):
    amount = StringField("Amount", validators=[Length(max=20)])
    expires_on = DateField("Expires on", validators=[Optional()])
    recipient_email = StringField("Recipient email (optional)", validators=[Length(max=255)])
    note = TextAreaField("Note", validators=[Length(max=500)])


class AdjustForm(FlaskForm):
    amount = StringField("Amount (negative takes off)", validators=[Length(max=20)])
    reason = StringField("Reason", validators=[Length(max=500)])


def _amount(text: Any) -> Any:
    """The typed amount in minor units; left as typed (the service says what is wrong) when
    it is not an amount: parse_amount raises ValidationError at the field."""
    return parse_amount(str(text or "").strip() or "0", shop_currency(), field="amount")


def _end_of_day(day: Any) -> datetime | None:
    return datetime.combine(day, time.max).replace(tzinfo=None) if day else None


def gift_card_list() -> Response:
    status = request.args.get("status", "")
    status = status if status in CARD_STATUSES else ""
    q = request.args.get("q", "").strip()[:40]
    page = list_gift_cards(
        status=status,
        q=q,
        after=request.args.get("after"),
        before=request.args.get("before"),
        limit=current_app.config["PAGE_SIZE"],
    )
    args = {k: v for k, v in (("status", status), ("q", q)) if v}
    return render(
        "console/giftcards/list.html",
        "console/giftcards/_list.html",
        page=page,
        chosen=status,
        q=q,
        args=args,
        statuses=CARD_STATUSES,
    )


def gift_card_export() -> Response:
    status = request.args.get("status", "")
    q = request.args.get("q", "").strip()[:40]
    chunks = export_gift_cards(
        status=status if status in CARD_STATUSES else "", q=q, by=current_user
    )
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M")
    response = Response(stream_with_context(chunks), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="gift-cards-{stamp}.csv"'
    return response


def gift_card_new() -> Response:
    form = IssueForm()
    if request.method == "POST":
        sent = submit(
            form,
            lambda: issue_gift_card(
                amount=_amount(form.amount.data),
                note=form.note.data or "",
                expires_at=_end_of_day(form.expires_on.data),
                recipient_email=(form.recipient_email.data or "").strip(),
                by=current_user,
            ),
        )
        if sent.ok:
            card, code = sent.value
            # The code is shown on this answer only: never stored, never on another page.
            response = render(
                "console/giftcards/issued.html", card=card, code=grouped(code), status=201
            )
            response.headers["Cache-Control"] = "no-store"
            return response
    return render(
        "console/giftcards/new.html", form=form, currency=shop_currency(), status=form_status()
    )


def _detail(card_id: int, *, adjust: AdjustForm | None = None, status: int = 200) -> Response:
    card = get_gift_card(card_id)
    return render(
        "console/giftcards/detail.html",
        card=card,
        ledger=card_ledger(card.id),
        adjust=adjust or AdjustForm(formdata=None),
        confirm=ConfirmForm(),
        status=status,
    )


def gift_card_detail(card_id: int) -> Response:
    return _detail(card_id)


def gift_card_adjust(card_id: int) -> Response:
    card = get_gift_card(card_id)
    form = AdjustForm()
    sent = submit(
        form,
        lambda: adjust_gift_card(
            card, amount=_amount(form.amount.data), reason=form.reason.data, by=current_user
        ),
    )
    if sent.ok:
        return done("Balance adjusted.", url_for("console.gift_card_detail", card_id=card_id))
    return _detail(card_id, adjust=form, status=form_status())


def gift_card_deactivate(card_id: int) -> Response:
    card = get_gift_card(card_id)
    ConfirmForm().validate_on_submit()
    deactivate_gift_card(card, by=current_user)
    return done(
        f"{card.audit_label} deactivated: it can no longer be spent.",
        url_for("console.gift_card_detail", card_id=card_id),
    )


def _customer(customer_id: int) -> Any:
    customer = get_customer_with_addresses(customer_id)
    if customer is None:
        raise NotFound("No such customer.")
    return customer


def _store_credit_page(
    customer_id: int, *, form: AdjustForm | None = None, status: int = 200
) -> Response:
    customer = _customer(customer_id)
    credit, ledger = store_credit_with_ledger(customer.id)
    return render(
        "console/giftcards/store_credit.html",
        customer=customer,
        credit=credit,
        ledger=ledger,
        currency=credit.currency if credit else shop_currency(),
        adjust=form or AdjustForm(formdata=None),
        status=status,
    )


def store_credit(customer_id: int) -> Response:
    return _store_credit_page(customer_id)


def store_credit_adjust(customer_id: int) -> Response:
    customer = _customer(customer_id)
    form = AdjustForm()
    sent = submit(
        form,
        lambda: adjust_store_credit(
            customer, amount=_amount(form.amount.data), reason=form.reason.data, by=current_user
        ),
    )
    if sent.ok:
        return done(
            "Store credit adjusted.", url_for("console.store_credit", customer_id=customer_id)
        )
    return _store_credit_page(customer_id, form=form, status=form_status())
