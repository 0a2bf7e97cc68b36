"""Document background work: the bulk packing-slip print, the invoice of each order placed and
the credit note of each refund.

Tasks take ids, never ORM objects, so the eager embedded mode and a real worker run the same
code; the outbox consumer is idempotent because a refund has at most one credit note.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from commerce import outbox
from commerce.documents.bulk import KIND, create_packing_slips_job, run_packing_slips_job
from commerce.documents.numbering import issue_credit_note, issue_invoice
from commerce.errors import Conflict
from commerce.extensions import db
from commerce.jobs import Job, job_task, queue_job
from commerce.orders.models import Order, Refund
from commerce.orders.services import ORDER_PLACED

log = logging.getLogger(__name__)

REFUND_SUCCEEDED = "refund.succeeded"  # outbox topic emitted by the refunds service


def _print_again(job: Job, by: Any) -> Job:
    return create_packing_slips_job(job.params.get("order_ids", []), by=by)


# The PDF is written aside and renamed into place, so a second run just writes it again.
print_packing_slips_task = job_task(
    KIND, name="commerce.documents.print_packing_slips", again=_print_again
)(run_packing_slips_job)


def start_packing_slips(order_ids: Iterable[int], *, by: Any) -> Job:
    """Queue the bulk print of the selected orders' slips (runs inline in the embedded mode)."""
    return queue_job(create_packing_slips_job(order_ids, by=by))


@outbox.handler(REFUND_SUCCEEDED, atomic=False)
def issue_refund_credit_note(event: outbox.OutboxEvent) -> None:
    """Number the refund's credit note. A second delivery finds the note already issued; a
    failure rolls the number back with its transaction, and the event is retried.

    In a transaction of its own, as the invoice's (below): the year's number row is not held
    across the dispatcher's batch, beside the other consumers' locks."""
    refund = db.session.get(Refund, int(event.payload["refund_id"]))
    if refund is None:
        log.warning("refund %s of event %s is gone; no credit note", event.payload, event.id)
        return
    issue_credit_note(refund)


@outbox.handler(ORDER_PLACED, atomic=False)
def issue_order_invoice(event: outbox.OutboxEvent) -> None:
    """Number the order's invoice when it is placed (its business event; a GET of the PDF never
    numbers one). Idempotent: a second delivery finds the invoice. An order cancelled before
    payment by then gets none.

    In a transaction of its own (`atomic=False`), not the dispatcher's: the year's number row
    is locked until commit, and inside a batch beside the search index's writer lock two
    dispatchers took the two locks in opposite orders (a deadlock during a flash sale)."""
    order = db.session.get(Order, int(event.payload["order_id"]))
    if order is None:
        log.warning("order of event %s is gone; no invoice", event.id)
        return
    try:
        issue_invoice(order)
    except Conflict as exc:
        log.info("order %s gets no invoice: %s", order.id, exc.message)
