"""The transaction contract (commerce/db.py): a @service composes with its caller's
transaction, a @workflow refuses to run inside one, and either leaves the session clean after
an error, so a web view never rolls back, refreshes or commits."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import func, select

import commerce
from commerce.db import NestedWorkflowError, in_transaction, service, transaction, workflow
from commerce.errors import ValidationError
from commerce.extensions import db
from commerce.tax.models import TaxRate

_regions = itertools.count(1)


def _rate(name: str) -> TaxRate:
    """A row with a column of its own to spot it by (country and region are unique)."""
    return TaxRate(country="DE", region=f"R{next(_regions)}", name=name, rate_bps=1900)


def _rates(name: str) -> int:
    return db.session.scalar(select(func.count(TaxRate.id)).where(TaxRate.name == name)) or 0


@service
def add_rate(name: str, *, fail: bool = False) -> TaxRate:
    rate = _rate(name)
    db.session.add(rate)
    db.session.flush()
    if fail:
        raise ValidationError("No.", field="name")
    return rate


@service
def add_two(first: str, second: str, *, fail_second: bool = False) -> None:
    add_rate(first)
    add_rate(second, fail=fail_second)


@workflow
def two_steps(name: str, *, fail_after_first: bool = False) -> None:
    add_rate(f"{name} 1")  # its own transaction: committed
    if fail_after_first:
        raise ValidationError("Stopped after the first step.")
    add_rate(f"{name} 2")


def test_a_service_runs_in_a_transaction_and_commits_alone(app):
    assert commerce.__file__.startswith(str(Path(__file__).parents[2]))
    seen = []

    @service
    def look() -> None:
        seen.append(in_transaction())

    look()
    add_rate("alone")
    assert seen == [True]
    assert not in_transaction()
    assert _rates("alone") == 1


def test_a_nested_service_joins_its_caller_and_rolls_back_with_it(app):
    with pytest.raises(ValidationError):
        add_two("joined 1", "joined 2", fail_second=True)
    assert _rates("joined 1") == 0  # the first service's row went with the second's failure
    assert _rates("joined 2") == 0
    add_two("kept 1", "kept 2")
    assert (_rates("kept 1"), _rates("kept 2")) == (1, 1)


def test_a_service_inside_an_open_transaction_commits_with_it(app):
    with pytest.raises(RuntimeError, match="outer"), transaction():
        add_rate("inner")
        raise RuntimeError("the outer block failed")
    assert _rates("inner") == 0


def test_a_workflow_refuses_to_run_inside_a_transaction(app):
    with pytest.raises(NestedWorkflowError, match="outside"), transaction():
        two_steps("nested")
    assert _rates("nested 1") == 0
    with pytest.raises(NestedWorkflowError):
        add_calling_a_workflow()
    assert issubclass(NestedWorkflowError, RuntimeError)


@service
def add_calling_a_workflow() -> None:
    two_steps("inside a service")


def test_a_workflow_commits_its_steps_and_stops_at_an_error(app):
    two_steps("done")
    assert (_rates("done 1"), _rates("done 2")) == (1, 1)
    with pytest.raises(ValidationError):
        two_steps("half", fail_after_first=True)
    assert (_rates("half 1"), _rates("half 2")) == (1, 0)  # the committed step stays


def test_the_session_is_clean_after_an_error_from_either_kind(app):
    rate = add_rate("clean")
    rate_id = rate.id
    db.session.execute(TaxRate.__table__.update().values(rate_bps=700))
    rate.name = "changed in memory"  # a view's stray change: nothing may keep it
    with pytest.raises(ValidationError):
        add_rate("refused", fail=True)
    assert not db.session.dirty
    assert rate.name == "clean"  # expired by the rollback: read again
    assert db.session.get(TaxRate, rate_id).rate_bps == 1900

    with pytest.raises(ValidationError):
        stray_write_then_fail()
    assert not db.session().in_transaction()  # rolled back, not left open
    assert _rates("stray") == 0
    assert rate.name == "clean"


@workflow
def stray_write_then_fail() -> None:
    add_rate("step")
    db.session.add(_rate("stray"))
    db.session.flush()  # outside any transaction(): half-state the error must not leave behind
    raise ValidationError("Stopped.")
