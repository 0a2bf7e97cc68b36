"""Failed sign-ins at once for one email, on PostgreSQL with real threads: every failure
counts (one conditional UPDATE each, the first row made by one of them), none fails with a
500, and the account waits afterwards."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from commerce.accounts.models import SignInThrottle
from commerce.accounts.sessions import STAFF, Client
from commerce.accounts.signin import check_password
from commerce.errors import ValidationError
from commerce.extensions import db
from tests.concurrency.conftest import run_together, unexpected

pytestmark = pytest.mark.postgres

GUESSERS = 20


def test_parallel_failures_all_count(race_app):
    outcomes = run_together(
        race_app,
        GUESSERS,
        lambda i: check_password(
            STAFF, "Target@Example.com", f"guess {i}", client=Client(f"10.0.0.{i}"), trusted=False
        ),
    )
    assert unexpected(outcomes) == []
    assert all(isinstance(o.domain_error, ValidationError) for o in outcomes)
    row = db.session.scalars(select(SignInThrottle)).one()
    assert row.email == "target@example.com" and row.failures == GUESSERS
    assert row.blocked_until is not None
