"""Customer accounts and address books: registration, sign-in checks, addresses (audited).

Customers are not staff: the audit log's actor column points at staff members, so customer
actions are recorded with a label ("customer:<email>") and no actor id.
"""

from __future__ import annotations

import re
from types import SimpleNamespace
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from werkzeug.security import check_password_hash, generate_password_hash

from commerce import audit, outbox
from commerce.countries import is_country
from commerce.customers.models import Address, Customer
from commerce.db import service, transaction, utcnow, workflow
from commerce.errors import DuplicateValue, NotFound, ValidationError
from commerce.extensions import db
from commerce.passwords import password_problem
from commerce.tags import normalize_tags

CUSTOMER_REGISTERED = "customer.registered"  # outbox: the welcome email
REGISTRATION_ATTEMPTED = "customer.registration_attempted"  # outbox: tell the owner
MAX_ADDRESSES = 20
MAX_CUSTOMER_TAGS = 30
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
# A real hash to compare against when the email is unknown, so both failures take equal time.
_DUMMY_HASH = generate_password_hash("not-a-real-password")

# Postal code formats for the countries we check; others only need a non-empty value.
POSTAL_CODES: dict[str, tuple[re.Pattern[str], str]] = {
    "US": (re.compile(r"^\d{5}(-\d{4})?$"), "Enter a ZIP code like 12345 or 12345-6789."),
    "CA": (
        re.compile(r"^[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z] ?\d[ABCEGHJ-NPRSTV-Z]\d$"),
        "Enter a postal code like K1A 0B1.",
    ),
    "GB": (
        re.compile(r"^[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}$"),
        "Enter a postcode like SW1A 1AA.",
    ),
    "DE": (re.compile(r"^\d{5}$"), "Enter a five-digit postal code (Postleitzahl)."),
}
REGION_REQUIRED = {"US": "Enter a state.", "CA": "Enter a province or territory."}
ADDRESS_FIELDS = ("name", "line1", "line2", "city", "region", "postal_code", "country", "phone")
_LIMITS = {
    "name": 120,
    "line1": 200,
    "line2": 200,
    "city": 120,
    "region": 120,
    "postal_code": 20,
    "phone": 40,
}


def _actor(customer: Customer) -> SimpleNamespace:
    return SimpleNamespace(id=None, email=f"customer:{customer.email}")


def normalize_email(email: str | None) -> str:
    return (email or "").strip().lower()


def is_valid_email(email: str) -> bool:
    return bool(_EMAIL_RE.match(email)) and len(email) <= 255


def clean_email(email: str | None) -> str:
    """The normalised address, or ValidationError at the email field."""
    email = normalize_email(email)
    if not email:
        raise ValidationError("Enter your email address.", field="email")
    if not is_valid_email(email):
        raise ValidationError("Enter a valid email address, like name@example.com.", field="email")
    return email


# -- accounts -----------------------------------------------------------------------------------


def find_customer_by_email(email: str) -> Customer | None:
    return db.session.scalar(select(Customer).where(Customer.email == normalize_email(email)))


@service
def register_customer(*, email: str, password: str, name: str = "") -> Customer:
    """Open an account; errors are keyed by field (email, password, name). Refuses an address
    that has an account (DuplicateValue): for staff tools and the demo. The shop's own form uses
    `request_registration`, which never says so."""
    email, name = _check_registration(email, password, name)
    if find_customer_by_email(email) is not None:
        raise DuplicateValue(
            "An account with this email already exists. Sign in instead.", field="email"
        )
    return _open_account(email, password, name)


@workflow
def request_registration(*, email: str, password: str, name: str = "") -> Customer | None:
    """The shop's registration, which answers the same whether or not the address already has
    an account (else it tells anyone which addresses are customers here).

    A new address: the account is opened and returned, and a welcome email is queued. An
    address with an account: nothing changes, None is returned (the caller signs no one in),
    and its owner is emailed that someone tried to register with it. Both paths hash the
    password, so they take the same time. ValidationError for the inputs, as
    `register_customer`."""
    email, name = _check_registration(email, password, name)
    try:
        with transaction():
            existing = find_customer_by_email(email)
            if existing is None:
                customer = _open_account(email, password, name)
                outbox.enqueue(CUSTOMER_REGISTERED, {"customer_id": customer.id})
                return customer
            generate_password_hash(password)  # the same work as opening an account
            outbox.enqueue(REGISTRATION_ATTEMPTED, {"customer_id": existing.id})
            return None
    except IntegrityError:  # registered a moment ago by a request racing this one
        with transaction():
            existing = find_customer_by_email(email)
            if existing is None:
                raise
            outbox.enqueue(REGISTRATION_ATTEMPTED, {"customer_id": existing.id})
        return None


def _check_registration(email: str, password: str, name: str) -> tuple[str, str]:
    errors: dict[str, list[str]] = {}
    email = normalize_email(email)
    name = (name or "").strip()
    if not is_valid_email(email):
        errors["email"] = ["Enter a valid email address."]
    problem = password_problem(password, email=email, name=name)
    if problem:
        errors["password"] = [problem]
    if len(name) > 120:
        errors["name"] = ["At most 120 characters."]
    if errors:
        raise ValidationError(errors=errors)
    return email, name


def _open_account(email: str, password: str, name: str) -> Customer:
    """In the caller's transaction: the account, with its audit entry."""
    customer = Customer(email=email, name=name, last_sign_in_at=utcnow())
    customer.set_password(password)
    db.session.add(customer)
    db.session.flush()
    audit.record(_actor(customer), "customer.register", customer, after=customer.snapshot())
    return customer


def authenticate_customer(email: str, password: str) -> Customer | None:
    """The account for these credentials, or None; never says which part was wrong."""
    customer = find_customer_by_email(email)
    if customer is None or not customer.password_hash:
        check_password_hash(_DUMMY_HASH, password or "")
        return None
    if not customer.check_password(password or "") or not customer.is_active:
        return None
    with transaction():
        customer.last_sign_in_at = utcnow()
    return customer


def load_customer(session_value: Any) -> Customer | None:
    """The customer a session value ("<id>:<version>") names, if it is still valid."""
    if not isinstance(session_value, str):
        return None
    try:
        raw_id, version = session_value.split(":", 1)
        customer = db.session.get(Customer, int(raw_id))
    except (ValueError, TypeError):
        return None
    if customer is None or not customer.is_active or str(customer.session_version) != version:
        return None
    return customer


@service
def sign_out_everywhere(customer: Customer) -> Customer:
    """Invalidate every session of this customer."""
    customer.session_version += 1
    return customer


# -- address book -------------------------------------------------------------------------------


def clean_address(values: dict[str, Any]) -> dict[str, str]:
    """Trimmed address values, or ValidationError with messages keyed by field."""
    data = {key: str(values.get(key) or "").strip() for key in ADDRESS_FIELDS}
    data["country"] = data["country"].upper()
    errors: dict[str, list[str]] = {}
    for key, message in (
        ("name", "Enter the recipient's name."),
        ("line1", "Enter the street address."),
        ("city", "Enter a city."),
        ("postal_code", "Enter a postal code."),
        ("country", "Choose a country."),
    ):
        if not data[key]:
            errors[key] = [message]
    for key, limit in _LIMITS.items():
        if len(data[key]) > limit and key not in errors:
            errors[key] = [f"At most {limit} characters."]
    country = data["country"]
    if country and not is_country(country):
        errors["country"] = ["Choose a country from the list."]
    if country in REGION_REQUIRED and not data["region"]:
        errors["region"] = [REGION_REQUIRED[country]]
    if country in POSTAL_CODES and data["postal_code"] and "postal_code" not in errors:
        pattern, message = POSTAL_CODES[country]
        code = re.sub(r"\s+", " ", data["postal_code"].upper())
        if not pattern.match(code):
            errors["postal_code"] = [message]
        elif country == "CA" and " " not in code:
            code = f"{code[:3]} {code[3:]}"
        data["postal_code"] = code
    if errors:
        raise ValidationError(errors=errors)
    return data


def get_address(customer: Customer, address_id: int) -> Address:
    """One of this customer's addresses; another customer's id is simply not found."""
    address = db.session.scalar(
        select(Address).where(Address.id == address_id, Address.customer_id == customer.id)
    )
    if address is None:
        raise NotFound("No such address.")
    return address


def list_addresses(customer: Customer) -> list[Address]:
    return list(
        db.session.scalars(
            select(Address)
            .where(Address.customer_id == customer.id)
            .order_by(Address.is_default.desc(), Address.id)
        )
    )


def _count(customer: Customer) -> int:
    return (
        db.session.scalar(
            select(func.count()).select_from(Address).where(Address.customer_id == customer.id)
        )
        or 0
    )


def _clear_default(customer: Customer, *, keep: int | None = None) -> None:
    for other in db.session.scalars(
        select(Address).where(Address.customer_id == customer.id, Address.is_default.is_(True))
    ):
        if other.id != keep:
            other.is_default = False


@service
def add_address(customer: Customer, *, make_default: bool = False, **values: Any) -> Address:
    """Add an address; the first one becomes the default."""
    data = clean_address(values)
    count = _count(customer)
    if count >= MAX_ADDRESSES:
        raise ValidationError(
            f"An address book holds at most {MAX_ADDRESSES} addresses; delete one first."
        )
    is_default = make_default or count == 0
    if is_default:
        _clear_default(customer)
    address = Address(customer_id=customer.id, is_default=is_default, **data)
    db.session.add(address)
    db.session.flush()
    audit.record(_actor(customer), "address.create", address, after=address.snapshot())
    db.session.expire(customer, ["addresses"])
    return address


@service
def update_address(
    customer: Customer, address: Address, *, make_default: bool = False, **values: Any
) -> Address:
    if address.customer_id != customer.id:
        raise NotFound("No such address.")
    data = clean_address(values)
    before = address.snapshot()
    for key, value in data.items():
        setattr(address, key, value)
    if make_default and not address.is_default:
        _clear_default(customer, keep=address.id)
        address.is_default = True
    after = address.snapshot()
    if after != before:
        audit.record(_actor(customer), "address.update", address, before=before, after=after)
    return address


@service
def delete_address(customer: Customer, address: Address) -> None:
    """Delete an address; if it was the default, the oldest remaining one takes over."""
    if address.customer_id != customer.id:
        raise NotFound("No such address.")
    was_default = address.is_default
    before = address.snapshot()
    audit.record(_actor(customer), "address.delete", address, before=before)
    db.session.delete(address)
    db.session.flush()
    if was_default:
        successor = db.session.scalar(
            select(Address).where(Address.customer_id == customer.id).order_by(Address.id).limit(1)
        )
        if successor is not None:
            successor.is_default = True
    db.session.expire(customer, ["addresses"])


@service
def set_default_address(customer: Customer, address: Address) -> Address:
    if address.customer_id != customer.id:
        raise NotFound("No such address.")
    if not address.is_default:
        _clear_default(customer, keep=address.id)
        address.is_default = True
        audit.record(_actor(customer), "address.set_default", address, after=address.snapshot())
    return address


def set_customer_tags(customer: Customer, tags: str | list[str] | None, *, by: Any) -> Customer:
    """Staff tag a customer (comma-separated or a list); promotions may require a tag."""
    clean = normalize_tags(tags)
    if len(clean) > MAX_CUSTOMER_TAGS:
        raise ValidationError(f"At most {MAX_CUSTOMER_TAGS} tags.", field="tags")
    before = list(customer.tags or [])
    if clean == before:
        return customer
    with transaction():
        customer.tags = clean
        audit.record(by, "customer.tags", customer, before={"tags": before}, after={"tags": clean})
    return customer


def customer_tags(customer_id: int | None) -> tuple[str, ...]:
    """A signed-in shopper's tags, for pricing (a guest has none)."""
    if customer_id is None:
        return ()
    return tuple(db.session.scalar(select(Customer.tags).where(Customer.id == customer_id)) or ())
