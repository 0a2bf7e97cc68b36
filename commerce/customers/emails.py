"""The account emails of the shop's registration, rendered from templates/emails/ and sent
through commerce.mail by outbox consumers (tasks.py), after the registration committed.

Each message's key names the event it answers, so a redelivered event writes no second file
(the embedded mode) and keeps its Message-ID.
"""

from __future__ import annotations

from flask import current_app

from commerce import mail
from commerce.customers.models import Customer
from commerce.extensions import db

SIGN_IN_PATH = "/account/login"  # storefront.login; the core builds links from SHOP_URL


def _context(customer: Customer) -> dict[str, str]:
    shop_url = mail.shop_base()
    return {
        "name": customer.name or "",
        "email": customer.email,
        "shop_name": current_app.config["SHOP_NAME"],
        "shop_url": shop_url,
        "sign_in_url": shop_url + SIGN_IN_PATH,
    }


def _send(customer_id: int, *, key: str, template: str, subject: str) -> bool:
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        return False  # the account is gone: nobody to tell
    context = _context(customer)
    env = current_app.jinja_env
    message = mail.build_message(
        key=key,
        to=customer.email,
        subject=subject.format(**context),
        text=env.get_template(f"emails/{template}.txt").render(context),
        html=env.get_template(f"emails/{template}.html").render(context),
    )
    mail.send_email(message, key=key)
    return True


def send_registration_attempt(customer_id: int, *, event_id: int) -> bool:
    """Tell an account's owner that someone tried to register with their address (the shop
    answered them as for a new account, and changed nothing)."""
    return _send(
        customer_id,
        key=f"customer-{customer_id}-registration-attempt-{event_id}",
        template="registration_attempt",
        subject="Someone tried to create an account with your address — {shop_name}",
    )


def send_welcome(customer_id: int, *, event_id: int) -> bool:
    """The new account's welcome (the registration page promises an email either way)."""
    return _send(
        customer_id,
        key=f"customer-{customer_id}-welcome-{event_id}",
        template="welcome",
        subject="Welcome to {shop_name}",
    )
