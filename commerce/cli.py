"""`flask ...` commands: thin wrappers that parse arguments and call one service."""

from __future__ import annotations

import secrets
import time

import click
from flask import Flask
from flask.cli import AppGroup

from commerce.errors import CommerceError
from commerce.staff.permissions import ROLES

staff_cli = AppGroup("staff", help="Manage staff accounts.")
demo_cli = AppGroup("demo", help="Demo data.")
outbox_cli = AppGroup("outbox", help="The transactional outbox.")
inventory_cli = AppGroup("inventory", help="Stock counters, holds and the ledger.")
search_cli = AppGroup("search", help="The catalog search index.")
jobs_cli = AppGroup("jobs", help="Background jobs (imports, prints, code batches, rebuilds).")
payments_cli = AppGroup("payments", help="Payments and their recovery after crashes.")
edge_cli = AppGroup("edge", help="The edge cache in front of the shop (Varnish).")


@staff_cli.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", default="")
@click.option("--password", default=None, help="Omit to generate one and print it.")
def staff_create(email: str, role: str, name: str, password: str | None) -> None:
    """Create a staff account that can sign in at once."""
    from commerce.staff.services import create_staff

    password = password or secrets.token_urlsafe(12)
    try:
        member = create_staff(email, role=role, name=name, password=password, by=None)
    except CommerceError as exc:
        messages = getattr(exc, "errors", None) or {exc.field or "error": [exc.message]}
        for field, items in messages.items():
            for message in items:
                click.echo(f"{field}: {message}", err=True)
        raise SystemExit(1) from exc
    click.echo(f"Created {member.role} {member.email} with password {password}")


@demo_cli.command("load")
@click.option("--products", default=600, show_default=True, help="How many products to create.")
@click.option(
    "--orders",
    default=40,
    show_default=True,
    type=click.IntRange(min=0),
    help=(
        "Demo orders placed through the checkout after a new demo catalog, or into a demo "
        "catalog that has none (0: none)."
    ),
)
@click.option("--seed", default=7, show_default=True)
@click.option("--quiet", is_flag=True)
def demo_load(products: int, orders: int, seed: int, quiet: bool) -> None:
    """Load a realistic demo shop and print a staff login for each role."""
    from commerce.demo import load_demo

    started = time.perf_counter()
    summary = load_demo(
        products=products, orders=orders, seed=seed, progress=None if quiet else click.echo
    )
    elapsed = time.perf_counter() - started
    counts = (
        f"{summary['products']} products, {summary['variants']} variants, "
        f"{summary['categories']} categories, {summary['collections']} collections, "
        f"{summary['orders']} orders"
    )
    if summary.get("created", True):
        click.echo(f"Loaded {counts} in {elapsed:.1f}s")
    else:
        click.echo(f"The shop already has data ({counts}); nothing loaded.")
    if summary.get("logins"):
        click.echo("Staff logins (email / password):")
        for role, (email, password) in summary["logins"].items():
            click.echo(f"  {role:<13} {email} / {password}")


@outbox_cli.command("dispatch")
@click.option(
    "--retry-now",
    is_flag=True,
    help="Also deliver events still waiting out their backoff (once the cause is fixed).",
)
def outbox_dispatch(retry_now: bool) -> None:
    """Deliver pending outbox events now, and say what failed and what still waits."""
    from commerce.db import utcnow
    from commerce.outbox import deliver_pending

    report = deliver_pending(retry_now=retry_now)
    click.echo(f"Delivered {report.delivered} events")
    for failure in report.failed:
        wait = max(0, round((failure.next_attempt_at - utcnow()).total_seconds()))
        click.echo(
            f"Failed: event {failure.event_id} ({failure.topic}), attempt {failure.attempts}, "
            f"next try in {wait}s: {failure.error}"
        )
    if report.handed_back:
        click.echo(f"{report.handed_back} events left for the next run (the lease ran short)")
    if report.waiting:
        line = f"{report.waiting} events still waiting"
        if report.next_attempt_at is not None:
            line += f" (the next retry at {report.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC)"
        click.echo(line)


@jobs_cli.command("sweep")
def jobs_sweep() -> None:
    """Fail jobs whose worker stopped and send lost ones again (what beat runs every minute)."""
    from commerce.jobs import sweep_jobs

    report = sweep_jobs()
    click.echo(
        f"{len(report.stopped)} stopped jobs failed, {len(report.requeued)} queued again, "
        f"{len(report.never_started)} never started and failed"
    )
    for job_id in report.stopped + report.never_started:
        click.echo(f"  failed: {job_id}")


@inventory_cli.command("reconcile")
@click.option("--fix", is_flag=True, help="Set drifted counters to the computed values.")
def inventory_reconcile(fix: bool) -> None:
    """Recompute counters from the ledger and the live holds; report (and with --fix repair)."""
    from commerce.inventory.services import reconcile

    drifts = reconcile(fix=fix)
    for drift in drifts:
        click.echo(
            f"stock level {drift.level_id}: {drift.field} is {drift.counter}, "
            f"should be {drift.computed}" + (" (fixed)" if fix else "")
        )
    click.echo(f"{len(drifts)} drifted counters" + (" repaired" if fix and drifts else ""))
    if drifts and not fix:
        raise SystemExit(1)


@inventory_cli.command("release-expired")
def inventory_release_expired() -> None:
    """Release checkout holds whose time has run out."""
    from commerce.inventory.services import release_expired_reservations

    click.echo(f"Released {release_expired_reservations()} units")


@search_cli.command("reindex")
@click.option("--quiet", is_flag=True)
def search_reindex(quiet: bool) -> None:
    """Rebuild the whole index beside the live one and swap it in (search keeps answering)."""
    from contextlib import ExitStack

    from commerce.jobs import create_job, get_job, run_claimed
    from commerce.search.indexing import REINDEX_JOB, ReindexResult, run_reindex_job

    # A Job as well as the bar: the console shows a rebuild started here like its own (and
    # the job's heartbeat keeps the periodic sweep from taking it for a stopped one).
    job = create_job(REINDEX_JOB, title="Rebuild the search index", params={}, by=None)
    outcome: list[ReindexResult | None] = [None]
    with ExitStack() as stack:
        bar = None
        if not quiet:
            bar = stack.enter_context(click.progressbar(length=1, label="Indexing products"))

        def progress(done: int, total: int) -> None:
            if bar is not None:
                bar.length = max(total, 1)
                bar.update(done - bar.pos)

        def run(job_id: str) -> None:
            outcome[0] = run_reindex_job(job_id, progress=progress)

        run_claimed(job.id, run)
    result = outcome[0]
    if result is None:
        failed = get_job(job.id).message
        raise click.ClickException(f"The rebuild failed: {failed}")
    click.echo(
        f"Indexed {result.documents} products into {result.name} in {result.seconds:.1f}s "
        f"and swapped it in."
    )


@search_cli.command("sync")
def search_sync() -> None:
    """Apply catalog changes waiting for the index now, those waiting out a retry delay too;
    say what is still pending and why. Exits 1 when the search engine refused or did not
    answer."""
    from commerce.db import transaction
    from commerce.search.indexing import apply_pending, catch_up_outbox, pending_status

    with transaction():
        catch_up_outbox()
    run = apply_pending(everything=True)
    click.echo(f"Applied {run.applied} events to the search index.")
    status = pending_status()
    if not status.waiting:
        click.echo("Nothing is pending.")
    else:
        retry = (
            f"; next attempt at {status.next_attempt_at:%Y-%m-%d %H:%M:%S} UTC"
            if status.next_attempt_at
            else ""
        )
        since = (
            f"; the oldest waits since {status.since:%Y-%m-%d %H:%M:%S} UTC" if status.since else ""
        )
        click.echo(
            f"Still pending: {status.waiting} events ({status.failing} failed at least once"
            f"{retry}{since})."
        )
    if status.last_error or run.error:
        click.echo(f"Last error: {run.error or status.last_error}")
    if status.standby:
        click.echo(f"Standby index in the database: {status.standby}.")
    if run.failed:
        raise SystemExit(1)


@payments_cli.command("recover")
def payments_recover() -> None:
    """Settle payments and checkouts a crash or an outage left halfway (what the periodic task
    does), with the payment provider as the source of truth; report what it did."""
    from commerce.checkout.recovery import recover_payments

    report = recover_payments()
    for line in report.lines():
        click.echo(line)
    if report.errors:
        raise SystemExit(1)


@edge_cli.command("purge")
@click.argument("keys", nargs=-1, required=True)
def edge_purge(keys: tuple[str, ...]) -> None:
    """Drop the shop pages carrying these surrogate keys at every edge host now ("catalog":
    every page, e.g. after a deploy that changed templates; "product-12", "category-3"...)."""
    from commerce.edge.purge import PurgeFailed, edge_enabled
    from commerce.edge.tasks import purge

    if not edge_enabled():
        raise click.ClickException("No edge cache is configured (EDGE_CACHE=none).")
    try:
        dropped = purge(set(keys))
    except PurgeFailed as exc:
        raise click.ClickException(f"The purge failed: {exc}") from exc
    click.echo(f"Purged {' '.join(sorted(keys))}: {dropped} stored pages dropped.")


def register(app: Flask) -> None:
    groups = (
        staff_cli,
        demo_cli,
        outbox_cli,
        inventory_cli,
        search_cli,
        jobs_cli,
        payments_cli,
        edge_cli,
    )
    for group in groups:
        app.cli.add_command(group)
