"""Document background work: the bulk packing-slip print and the credit note of each refund.

Tasks take ids, never ORM objects, so the eager embedded mode and a real worker run the same
code; the outbox consumer is idempotent because a refund has at most one credit note.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from commerce import outbox
from commerce.broker import queue_task
from commerce.documents.bulk import create_packing_slips_job, run_packing_slips_job
from commerce.documents.numbering import issue_credit_note
from commerce.extensions import celery, db
from commerce.jobs import Job, finish_job
from commerce.orders.models import Refund

log = logging.getLogger(__name__)

REFUND_SUCCEEDED = "refund.succeeded"  # outbox topic emitted by the refunds service


@celery.task(name="commerce.documents.print_packing_slips")
def print_packing_slips_task(job_id: str) -> None:
    run_packing_slips_job(job_id)


def start_packing_slips(order_ids: Iterable[int], *, by: Any) -> Job:
    """Queue the bulk print of the selected orders' slips (runs inline in the embedded mode)."""
    job = create_packing_slips_job(order_ids, by=by)
    try:
        # Broker down: the job stays queued (logged) and the job sweeper queues it again.
        queue_task(print_packing_slips_task, job.id)
    except Exception:  # the inline run (embedded mode) failed: say so on the job
        log.exception("could not queue packing slips job %s", job.id)
        finish_job(
            job.id,
            result={"ok": False},
            failed=True,
            message="The job could not be queued; try again in a minute.",
        )
    return job


@outbox.handler(REFUND_SUCCEEDED)
def issue_refund_credit_note(event: outbox.OutboxEvent) -> None:
    """Number the refund's credit note. A second delivery finds the note already issued; a
    failure rolls back to the savepoint, so the number is given back and the event retried."""
    refund = db.session.get(Refund, int(event.payload["refund_id"]))
    if refund is None:
        log.warning("refund %s of event %s is gone; no credit note", event.payload, event.id)
        return
    with db.session.begin_nested():
        issue_credit_note(refund)
