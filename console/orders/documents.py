"""Documents in the console: invoice, packing slip and credit note downloads, and the bulk
packing-slip print (a background job with a progress bar, then one PDF to download).

Downloads answer the PDF itself (attachment, never cached). A GET never numbers a document:
invoices are numbered when the order is placed and credit notes when the refund goes through
(outbox consumers); one not numbered yet answers 404 with a button that POSTs to issue it now
(numbered and audited with who asked).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import flash, make_response, redirect, request, send_file, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import SelectMultipleField

from commerce.documents.bulk import (
    MAX_ORDERS,
    orders_to_pack,
    packing_slips_file,
    packing_slips_job,
)
from commerce.documents.numbering import (
    NOT_NUMBERED_CREDIT_NOTE,
    NOT_NUMBERED_INVOICE,
    credit_note_for,
    get_refund,
    invoice_for,
    issue_credit_note,
    issue_invoice,
)
from commerce.documents.render import credit_note_pdf, invoice_pdf, packing_slip_pdf
from commerce.documents.tasks import start_packing_slips
from commerce.jobs import FAILED
from commerce.orders.fulfillment import get_fulfillment
from commerce.orders.services import get_order
from console.web import toast
from web.forms import form_status, submit
from web.pages import is_htmx, render


class PackingSlipsForm(FlaskForm):
    """The selected orders: `order_id` repeated, as the order list's checkboxes send it."""

    order_id = SelectMultipleField("Orders", coerce=int, validate_choice=False)


def pdf_response(content: bytes, filename: str) -> Response:
    """A PDF download: attachment named after the document, kept out of every cache."""
    response = make_response(content)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "no-store"
    return response


def not_issued(message: str, issue_url: str, label: str) -> Response:
    """404 for a document without a number yet, with a button that POSTs to issue it."""
    return render(
        "console/documents/not_issued.html",
        message=message,
        issue_url=issue_url,
        label=label,
        status=404,
    )


def order_invoice_pdf(order_id: int) -> Any:
    order = get_order(order_id)
    invoice = invoice_for(order)
    if invoice is None:
        url = url_for("console.order_invoice_issue", order_id=order.id)
        return not_issued(NOT_NUMBERED_INVOICE, url, "Issue the invoice now")
    return pdf_response(invoice_pdf(order), f"{invoice.number}.pdf")


def order_invoice_issue(order_id: int) -> Any:
    """Number the order's invoice now (one placed before invoices were numbered at placement,
    or whose event is still waiting); then the download."""
    order = get_order(order_id)
    issue_invoice(order, by=current_user)
    return redirect(url_for("console.order_invoice_pdf", order_id=order.id), code=303)


def order_packing_slip_pdf(order_id: int) -> Any:
    order = get_order(order_id)
    return pdf_response(packing_slip_pdf(order), f"packing-slip-{order.number or order.id}.pdf")


def fulfillment_packing_slip_pdf(fulfillment_id: int) -> Any:
    fulfillment = get_fulfillment(fulfillment_id)
    order = fulfillment.order
    name = f"packing-slip-{order.number or order.id}-{fulfillment.id}.pdf"
    return pdf_response(packing_slip_pdf(fulfillment), name)


def refund_credit_note_pdf(refund_id: int) -> Any:
    refund = get_refund(refund_id)
    note = credit_note_for(refund)
    if note is None or invoice_for(refund.order) is None:
        url = url_for("console.refund_credit_note_issue", refund_id=refund.id)
        return not_issued(NOT_NUMBERED_CREDIT_NOTE, url, "Issue the credit note now")
    return pdf_response(credit_note_pdf(refund), f"{note.number}.pdf")


def refund_credit_note_issue(refund_id: int) -> Any:
    """Number the refund's credit note now (and its invoice when missing); then the download.
    Refused (409) for a refund that did not go through."""
    refund = get_refund(refund_id)
    issue_credit_note(refund, by=current_user)
    return redirect(url_for("console.refund_credit_note_pdf", refund_id=refund.id), code=303)


def packing_slips() -> Any:
    """Pick orders and print their slips; the order list's bulk action posts here too."""
    form = PackingSlipsForm()
    if request.method == "POST":
        sent = submit(form, lambda: start_packing_slips(form.order_id.data or [], by=current_user))
        if sent.ok:
            return _job_started(sent.value.id)
    return render(
        "console/documents/packing_slips.html",
        "console/documents/_packing_slips_form.html",
        form=form,
        orders=orders_to_pack(limit=MAX_ORDERS),
        max_orders=MAX_ORDERS,
        status=form_status(),
    )


def _job_started(job_id: str) -> Response:
    """htmx gets the job's progress fragment in place of the form; a browser goes to its page."""
    job = packing_slips_job(job_id)
    level = "error" if job.status == FAILED else "success"
    message = job.message or f"{job.title}: printing…"
    if is_htmx():
        response = render("console/documents/_packing_slips_job.html", job=job)
        return toast(response, message, level=level)
    flash(message, level)
    return redirect(url_for("console.packing_slips_job_status", job_id=job.id), code=303)


def packing_slips_job_status(job_id: str) -> Any:
    job = packing_slips_job(job_id)
    return render(
        "console/documents/packing_slips_job.html",
        "console/documents/_packing_slips_job.html",
        job=job,
    )


def packing_slips_download(job_id: str) -> Any:
    job = packing_slips_job(job_id)
    path = packing_slips_file(job)
    stamp = (job.finished_at or datetime.now(UTC)).strftime("%Y%m%d-%H%M")
    response = send_file(path, mimetype="application/pdf", max_age=0)
    response.headers["Content-Disposition"] = f'attachment; filename="packing-slips-{stamp}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response
