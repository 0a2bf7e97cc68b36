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
    help="Demo orders placed through the checkout after a new catalog (0: none).",
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
def outbox_dispatch() -> None:
    """Deliver pending outbox events now."""
    from commerce.outbox import dispatch_pending

    click.echo(f"Delivered {dispatch_pending()} events")


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


def register(app: Flask) -> None:
    for group in (staff_cli, demo_cli, outbox_cli, inventory_cli):
        app.cli.add_command(group)
