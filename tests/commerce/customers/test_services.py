"""Customer accounts and address books, called without HTTP."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from commerce.customers.models import Address, Customer
from commerce.customers.services import (
    MAX_ADDRESSES,
    add_address,
    authenticate_customer,
    delete_address,
    get_address,
    load_customer,
    register_customer,
    request_registration,
    set_default_address,
    sign_out_everywhere,
    update_address,
)
from commerce.errors import DuplicateValue, NotFound, ValidationError
from commerce.extensions import db
from commerce.outbox import OutboxEvent
from tests.conftest import TEST_PASSWORD

US = {
    "name": "Ada Lovelace",
    "line1": "1 Main St",
    "city": "Springfield",
    "region": "IL",
    "postal_code": "62701",
    "country": "US",
}


def _count(model):
    return db.session.scalar(select(func.count()).select_from(model))


class TestRegistration:
    def test_the_shops_registration_never_says_an_address_is_taken(self, make_customer):
        owner = make_customer(email="taken@example.com")
        before = owner.password_hash
        assert request_registration(email="Taken@Example.com", password=TEST_PASSWORD) is None
        fresh = request_registration(email="new@example.com", password=TEST_PASSWORD, name="Ny")
        assert fresh is not None and fresh.email == "new@example.com"
        db.session.refresh(owner)
        assert owner.password_hash == before and _count(Customer) == 2
        topics = db.session.execute(
            select(OutboxEvent.topic, OutboxEvent.payload).order_by(OutboxEvent.id)
        ).all()
        assert [(t, p["customer_id"]) for t, p in topics] == [
            ("customer.registration_attempted", owner.id),
            ("customer.registered", fresh.id),
        ]
        with pytest.raises(ValidationError):  # bad input is still said, at the field
            request_registration(email="taken@example.com", password="short")

    def test_register_lowercases_email_and_hashes_password(self):
        customer = register_customer(
            email="  Ada@Example.COM ", password="long enough pw", name="Ada"
        )
        assert customer.email == "ada@example.com"
        assert customer.password_hash != "long enough pw"
        assert customer.check_password("long enough pw")
        assert customer.session_value == f"{customer.id}:1"

    def test_duplicate_email_is_a_field_error(self, make_customer):
        make_customer(email="taken@example.com")
        with pytest.raises(DuplicateValue) as info:
            register_customer(email="TAKEN@example.com", password="long enough pw")
        assert "email" in info.value.errors

    @pytest.mark.parametrize(
        ("email", "password", "field"),
        [("not-an-email", "long enough pw", "email"), ("a@b.co", "short", "password")],
    )
    def test_invalid_input(self, email, password, field):
        with pytest.raises(ValidationError) as info:
            register_customer(email=email, password=password)
        assert field in info.value.errors
        assert _count(Customer) == 0


class TestAuthentication:
    def test_right_password(self, make_customer):
        customer = make_customer(email="c@example.com")
        assert authenticate_customer("C@example.com", TEST_PASSWORD) == customer
        assert customer.last_sign_in_at is not None

    def test_failures_are_alike(self, make_customer):
        make_customer(email="c@example.com")
        make_customer(email="off@example.com", active=False)
        assert authenticate_customer("c@example.com", "wrong password") is None
        assert authenticate_customer("nobody@example.com", TEST_PASSWORD) is None
        assert authenticate_customer("off@example.com", TEST_PASSWORD) is None

    def test_load_customer_checks_version_and_active(self, make_customer):
        customer = make_customer()
        value = customer.session_value
        assert load_customer(value) == customer
        for bad in (None, "", "x", "1", f"{customer.id}:x", "999999:1", 12):
            assert load_customer(bad) is None
        sign_out_everywhere(customer)
        assert load_customer(value) is None
        assert load_customer(customer.session_value) == customer
        customer.is_active = False
        db.session.commit()
        assert load_customer(customer.session_value) is None


class TestAddresses:
    def test_first_address_is_default_and_later_default_moves(self, make_customer):
        customer = make_customer()
        first = add_address(customer, **US)
        second = add_address(customer, **{**US, "line1": "2 Main St"})
        assert first.is_default and not second.is_default
        set_default_address(customer, second)
        db.session.refresh(first)
        assert second.is_default and not first.is_default
        third = add_address(customer, make_default=True, **{**US, "line1": "3 Main St"})
        db.session.refresh(second)
        assert third.is_default and not second.is_default

    def test_delete_default_passes_default_on(self, make_customer):
        customer = make_customer()
        first = add_address(customer, **US)
        second = add_address(customer, **{**US, "line1": "2 Main St"})
        delete_address(customer, first)
        db.session.refresh(second)
        assert second.is_default
        assert _count(Address) == 1

    def test_update(self, make_customer):
        customer = make_customer()
        address = add_address(customer, **US)
        update_address(customer, address, **{**US, "city": "Chicago", "postal_code": "60601-1234"})
        assert address.city == "Chicago" and address.postal_code == "60601-1234"

    @pytest.mark.parametrize(
        ("values", "fields"),
        [
            ({}, {"name", "line1", "city", "postal_code", "country"}),
            ({**US, "region": ""}, {"region"}),
            ({**US, "postal_code": "1234"}, {"postal_code"}),
            ({**US, "postal_code": "12345-12"}, {"postal_code"}),
            ({**US, "country": "CA", "region": "ON", "postal_code": "12345"}, {"postal_code"}),
            ({**US, "country": "CA", "region": "", "postal_code": "K1A 0B1"}, {"region"}),
            ({**US, "country": "GB", "region": "", "postal_code": "NOPE"}, {"postal_code"}),
            ({**US, "country": "DE", "region": "", "postal_code": "1011"}, {"postal_code"}),
            ({**US, "country": "XX"}, {"country"}),
        ],
    )
    def test_validation_errors_by_field(self, make_customer, values, fields):
        customer = make_customer()
        with pytest.raises(ValidationError) as info:
            add_address(customer, **values)
        assert set(info.value.errors) == fields
        assert _count(Address) == 0

    @pytest.mark.parametrize(
        ("country", "region", "code", "stored"),
        [
            ("CA", "ON", "k1a0b1", "K1A 0B1"),
            ("GB", "", "sw1a 1aa", "SW1A 1AA"),
            ("GB", "", "M1 1AE", "M1 1AE"),
            ("DE", "", "10115", "10115"),
            ("FR", "", "75001", "75001"),
        ],
    )
    def test_valid_postal_codes(self, make_customer, country, region, code, stored):
        customer = make_customer()
        address = add_address(
            customer, **{**US, "country": country, "region": region, "postal_code": code}
        )
        assert address.postal_code == stored

    def test_at_most_twenty(self, make_customer):
        customer = make_customer()
        for n in range(MAX_ADDRESSES):
            add_address(customer, **{**US, "line1": f"{n} Main St"})
        with pytest.raises(ValidationError):
            add_address(customer, **US)
        assert _count(Address) == MAX_ADDRESSES

    def test_another_customers_address_is_not_found(self, make_customer):
        owner, other = make_customer(), make_customer()
        address = add_address(owner, **US)
        with pytest.raises(NotFound):
            get_address(other, address.id)
        with pytest.raises(NotFound):
            delete_address(other, address)
        with pytest.raises(NotFound):
            update_address(other, address, **US)
        with pytest.raises(NotFound):
            set_default_address(other, address)
