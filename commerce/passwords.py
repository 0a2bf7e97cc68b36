"""The password policy (OWASP ASVS 5.0 V6.2), one for staff and shoppers.

At least PASSWORD_MIN_LENGTH characters (12 unless set), up to 128, any characters, no
composition rules (ASVS: they make passwords weaker, not stronger). Refused: the email itself,
and any password that zxcvbn (Dropbox's estimator, packaged on PyPI) rates guessable in fewer
than 10^8 tries: its 30,000 most common passwords from leaked dumps, dictionary words, names,
keyboard walks, repeats, sequences and dates, and the person's own email and name. Its
warning becomes the message at the field, so the person learns why.
"""

from __future__ import annotations

from flask import current_app, has_app_context
from zxcvbn import zxcvbn

from commerce.errors import ValidationError

MIN_LENGTH = 12
MAX_LENGTH = 128
# zxcvbn's score: 3 means "safely unguessable" below 10^10, at least 10^8 guesses.
MIN_SCORE = 3


def min_length() -> int:
    if has_app_context():
        return int(current_app.config.get("PASSWORD_MIN_LENGTH", MIN_LENGTH))
    return MIN_LENGTH


def password_problem(password: str, *, email: str = "", name: str = "") -> str | None:
    """What is wrong with this password for this person, or None if it is good."""
    password = password or ""
    shortest = min_length()
    if len(password) < shortest:
        return f"Use at least {shortest} characters for the password."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters for the password."
    email = (email or "").strip().lower()
    if email and password.strip().lower() == email:
        return "Do not use your email address as the password."
    hints = [part for part in (email, email.split("@")[0], name or "") if part]
    result = zxcvbn(password[:72], user_inputs=hints)
    if result["score"] < MIN_SCORE:
        warning = result["feedback"].get("warning") or ""
        advice = "Choose a less common password: a few unrelated words work well."
        return f"{warning} {advice}".strip() if warning else advice
    return None


def check_password(
    password: str, *, email: str = "", name: str = "", field: str = "password"
) -> None:
    """Raise ValidationError at `field` if the password breaks the policy."""
    problem = password_problem(password, email=email, name=name)
    if problem:
        raise ValidationError(problem, field=field)
