"""Gift card codes: 16 characters from an alphabet without look-alikes (80 random bits from
`secrets`), printed in groups of four. Only a code's hash is kept for finding the card; a code
bought in the shop is also kept sealed (commerce/sealed.py) until the buyer's email has gone."""

from __future__ import annotations

import hashlib
import secrets

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # 32 symbols: no 0/O, 1/I
LENGTH = 16


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def normalize(text: object) -> str:
    """What a shopper typed, as stored: upper case, no spaces or dashes."""
    return "".join(ch for ch in str(text or "").upper() if ch.isalnum())


def code_hash(code: str) -> str:
    return hashlib.sha256(normalize(code).encode()).hexdigest()


def grouped(code: str) -> str:
    """ABCD-EFGH-JKLM-NPQR, for reading aloud and typing."""
    code = normalize(code)
    return "-".join(code[i : i + 4] for i in range(0, len(code), 4))
