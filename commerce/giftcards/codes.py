"""Gift card codes: 16 characters from an alphabet without look-alikes (80 random bits from
`secrets`, or from an HMAC of the shop's secret for cards bought in the shop, so the email
consumer can say the code again without it ever being stored), printed in groups of four."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols: no 0/O, 1/I
LENGTH = 16


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def code_for_unit(order_line_id: int, unit: int) -> str:
    """The code of the card issued for one unit of a gift card order line."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    digest = hmac.new(key, f"gift-card:{order_line_id}:{unit}".encode(), hashlib.sha256).digest()
    return "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:LENGTH])


def normalize(text: object) -> str:
    """What a shopper typed, as stored: upper case, no spaces or dashes."""
    return "".join(ch for ch in str(text or "").upper() if ch.isalnum())


def code_hash(code: str) -> str:
    return hashlib.sha256(normalize(code).encode()).hexdigest()


def grouped(code: str) -> str:
    """ABCD-EFGH-JKLM-NPQR, for reading aloud and typing."""
    code = normalize(code)
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
