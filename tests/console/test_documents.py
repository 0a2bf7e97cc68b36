"""Document downloads and the bulk packing-slip print through the console, by role."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select

from commerce import outbox
from commerce.audit import AuditEntry
from commerce.documents.models import Document
from commerce.documents.numbering import CREDIT_NOTE_ISSUED, INVOICE_ISSUED
from commerce.extensions import db
from commerce.jobs import Job
from commerce.orders.fulfillment import create_fulfillment, pickable
from tests.commerce.documents.helpers import checkout_order, pdf_pages, pdf_text, refund
from tests.conftest import htmx_headers


def assert_pdf(response, filename_pattern: str) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.headers["Content-Type"] == "application/pdf"
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(rf'attachment; filename="{filename_pattern}"', disposition), disposition
    assert response.headers["Cache-Control"] == "no-store"
    return pdf_text(response.get_data())


def test_the_invoice_is_numbered_when_the_order_is_placed_and_a_get_only_reads_it(
    client, login, checkout_shop
):
    login("support")
    order = checkout_order(checkout_shop, 2)
    outbox.dispatch_pending()  # the placement's event numbers the invoice
    text = assert_pdf(
        client.get(f"/console/orders/{order.id}/invoice.pdf"), r"INV-\d{4}-000001\.pdf"
    )
    assert f"#{order.number}" in text and "$58.98" in text
    again = client.get(f"/console/orders/{order.id}/invoice.pdf")
    assert_pdf(again, r"INV-\d{4}-000001\.pdf")  # the same number the second time
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == INVOICE_ISSUED))
    assert [(e.actor_id, e.subject_id) for e in entries] == [(None, str(order.id))]


def test_a_get_never_numbers_an_invoice_a_post_does_and_is_audited(client, login, checkout_shop):
    """The probe's finding: each GET of an order's invoice took the next gapless number."""
    support = login("support")
    order = checkout_order(checkout_shop, 2)  # its placement event not delivered yet
    for _ in range(3):
        answer = client.get(f"/console/orders/{order.id}/invoice.pdf")
        assert answer.status_code == 404
        page = answer.get_data(as_text=True)
        assert "invoice has not been issued yet" in page
        assert f'action="/console/orders/{order.id}/invoice"' in page
    assert db.session.query(Document).count() == 0
    issued = client.post(f"/console/orders/{order.id}/invoice")
    assert issued.status_code == 303 and issued.location.endswith("/invoice.pdf")
    assert_pdf(client.get(issued.location), r"INV-\d{4}-000001\.pdf")
    assert client.post(f"/console/orders/{order.id}/invoice").status_code == 303  # once
    assert db.session.query(Document).count() == 1
    entries = db.session.scalars(select(AuditEntry).where(AuditEntry.action == INVOICE_ISSUED))
    assert [(e.actor_id, e.subject_id) for e in entries] == [(support.id, str(order.id))]
    outbox.dispatch_pending()  # the late event finds the invoice issued
    assert db.session.query(Document).count() == 1


def test_packing_slip_downloads_for_the_order_and_for_a_parcel(
    client, login, checkout_shop, make_staff
):
    login("warehouse")
    order = checkout_order(checkout_shop, 2, 1)
    text = assert_pdf(
        client.get(f"/console/orders/{order.id}/packing-slip.pdf"),
        rf"packing-slip-{order.number}\.pdf",
    )
    assert "Packing slip" in text and "$" not in text
    (location_id,) = pickable(order).keys()
    small = order.lines[0]
    parcel = create_fulfillment(
        order, location_id=location_id, lines={small.id: 1}, by=make_staff("warehouse")
    )
    text = assert_pdf(
        client.get(f"/console/fulfillments/{parcel.id}/packing-slip.pdf"),
        rf"packing-slip-{order.number}-{parcel.id}\.pdf",
    )
    assert small.sku in text and order.lines[1].sku not in text


def test_a_get_never_numbers_a_credit_note_a_post_does(client, login, checkout_shop):
    support = login("support")
    order = checkout_order(checkout_shop, 2)
    done = refund(order, {order.lines[0].id: 1}, reason="Wrong size")  # no event delivered
    answer = client.get(f"/console/refunds/{done.id}/credit-note.pdf")
    assert answer.status_code == 404
    assert "credit note has not been issued yet" in answer.get_data(as_text=True)
    assert db.session.query(Document).count() == 0
    issued = client.post(f"/console/refunds/{done.id}/credit-note")
    assert issued.status_code == 303
    text = assert_pdf(client.get(issued.location), r"CN-\d{4}-000001\.pdf")
    assert "Wrong size" in text and "INV-" in text and "$26.81" in text
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == CREDIT_NOTE_ISSUED))
    assert entry.actor_id == support.id and entry.after["refund_id"] == done.id


def test_a_refund_still_processing_has_no_credit_note(client, login, checkout_shop):
    login("support")
    order = checkout_order(checkout_shop, 1)
    pending = refund(order, {order.lines[0].id: 1}, status="processing")
    assert client.get(f"/console/refunds/{pending.id}/credit-note.pdf").status_code == 404
    assert client.post(f"/console/refunds/{pending.id}/credit-note").status_code == 409
    assert db.session.query(Document).count() == 0


@pytest.mark.parametrize(
    "url",
    [
        "/console/orders/999999/invoice.pdf",
        "/console/orders/999999/packing-slip.pdf",
        "/console/fulfillments/999999/packing-slip.pdf",
        "/console/refunds/999999/credit-note.pdf",
        "/console/orders/packing-slips/no-such-job",
        "/console/orders/packing-slips/no-such-job/download",
    ],
)
def test_unknown_things_are_not_found(client, login, url):
    login("admin")
    assert client.get(url).status_code == 404


def test_a_merchandiser_may_not_see_documents(client, login, checkout_shop):
    login("merchandiser")
    order = checkout_order(checkout_shop, 1)
    done = refund(order, {order.lines[0].id: 1})
    for url in (
        f"/console/orders/{order.id}/invoice.pdf",
        f"/console/orders/{order.id}/packing-slip.pdf",
        f"/console/refunds/{done.id}/credit-note.pdf",
        "/console/orders/packing-slips",
    ):
        assert client.get(url).status_code == 403, url
    assert (
        client.post("/console/orders/packing-slips", data={"order_id": [order.id]}).status_code
        == 403
    )
    assert db.session.query(Document).count() == 0  # nothing numbered by a refused request


def test_anonymous_visitors_are_sent_to_sign_in(client, checkout_shop):
    order = checkout_order(checkout_shop, 1)
    response = client.get(f"/console/orders/{order.id}/invoice.pdf")
    assert response.status_code == 302 and "/console/login" in response.headers["Location"]


def test_warehouse_bulk_prints_selected_orders(client, login, checkout_shop):
    warehouse = login("warehouse")
    orders = [checkout_order(checkout_shop, 1) for _ in range(3)]
    page = client.get("/console/orders/packing-slips").get_data(as_text=True)
    for order in orders:
        assert f'name="order_id" value="{order.id}"' in page
    response = client.post(
        "/console/orders/packing-slips", data={"order_id": [o.id for o in orders]}
    )
    assert response.status_code == 303
    job = db.session.scalar(select(Job).where(Job.kind == "packing_slips"))
    assert job.created_by_id == warehouse.id
    assert response.headers["Location"].endswith(f"/console/orders/packing-slips/{job.id}")
    html = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'value="100"' in html and "3 packing slips ready." in html and "Download PDF" in html
    assert 'hx-trigger="load delay' not in html  # finished: the bar stops polling
    download = client.get(f"/console/orders/packing-slips/{job.id}/download")
    assert download.status_code == 200 and download.mimetype == "application/pdf"
    assert download.headers["Content-Disposition"].startswith(
        'attachment; filename="packing-slips-'
    )
    assert download.headers["Cache-Control"] == "no-store"
    pages = pdf_pages(download.get_data())
    download.close()
    assert len(pages) == 3
    assert all(f"#{o.number}" in p for o, p in zip(orders, pages, strict=True))


def test_htmx_gets_the_progress_fragment_with_a_toast(client, login, checkout_shop):
    login("admin")
    order = checkout_order(checkout_shop, 1)
    response = client.post(
        "/console/orders/packing-slips", data={"order_id": [order.id]}, headers=htmx_headers()
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<div class="job" id="packing-slips"')
    assert 'class="sidebar"' not in body and "Download PDF" in body
    toast = json.loads(response.headers["HX-Trigger"])["toast"]
    assert toast == {"message": "1 packing slip ready.", "level": "success"}


def test_bad_selections_answer_422_with_the_message(client, login, checkout_shop):
    login("warehouse")
    checkout_order(checkout_shop, 1)
    empty = client.post("/console/orders/packing-slips", data={})
    assert empty.status_code == 422 and "Select at least one order." in empty.get_data(as_text=True)
    junk = client.post("/console/orders/packing-slips", data={"order_id": ["abc"]})
    assert junk.status_code == 422
    fragment = client.post("/console/orders/packing-slips", data={}, headers=htmx_headers())
    assert fragment.status_code == 422
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="packing-slips">')
    assert db.session.query(Job).count() == 0


def test_support_may_download_but_not_bulk_print(client, login, checkout_shop):
    login("support")
    order = checkout_order(checkout_shop, 1)
    assert client.get(f"/console/orders/{order.id}/packing-slip.pdf").status_code == 200
    response = client.post("/console/orders/packing-slips", data={"order_id": [order.id]})
    assert response.status_code == 403


def test_bulk_print_needs_the_csrf_token(app, client, login, checkout_shop, monkeypatch):
    login("warehouse")
    order = checkout_order(checkout_shop, 1)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", True)
    refused = client.post("/console/orders/packing-slips", data={"order_id": [order.id]})
    assert refused.status_code == 400
    page = client.get("/console/orders/packing-slips").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    accepted = client.post(
        "/console/orders/packing-slips", data={"order_id": [order.id], "csrf_token": token}
    )
    assert accepted.status_code == 303
