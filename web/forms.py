"""One way to handle a posted form, in both faces.

- A form whose CSRF token expired (or never came) says so: `note_expired()` puts "The form
  expired; ..." at the form, `require_csrf()` refuses a bare POST with a 400.
- `submit()` validates the form and runs the one service call; a domain error's messages land
  at the fields they are about (`apply_errors()`), the rest at the form.
- A POST that comes back to its form answers 422 (`form_status()`, `failed_status()`).

Domain errors name what they are about by a path: a field's name ("email"), or a tuple into
nested input (("conditions", 0, "amount"), ("rules", 2)). A form's field is named by joining
the path with "-", which is how WTForms names the fields of a FieldList (`conditions-0-amount`)
and how the hand-built rows of the console's builders are named."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from flask import request
from flask_wtf import FlaskForm
from werkzeug.exceptions import BadRequest
from wtforms import Field, FieldList, FormField

from commerce.errors import CommerceError, ErrorPath

T = TypeVar("T")

FORM = "form"  # the key of messages about the form as a whole
RELOAD = "reload the page and try again"
FORM_EXPIRED = f"The form expired; {RELOAD}."
PAGE_EXPIRED = "Your form expired. Reload the page and try again."


def expired_message(then: str = RELOAD) -> str:
    """ "The form expired; <then>." (what to do again: try, upload, scan)."""
    return f"The form expired; {then}."


def csrf_failed(form: FlaskForm) -> bool:
    csrf = getattr(form, "csrf_token", None)
    return csrf is not None and bool(csrf.errors)


def note_expired(form: FlaskForm, message: str = FORM_EXPIRED) -> None:
    """After a failed validation: if the CSRF token was the cause, say so at the form."""
    if csrf_failed(form):
        form.form_errors.append(message)


def require_csrf() -> None:
    """A POST without a valid CSRF token (an expired page, a forged post) goes no further."""
    if not FlaskForm().validate_on_submit():
        raise BadRequest(PAGE_EXPIRED)


def field_name(key: ErrorPath) -> str:
    """The input's name for an error's path: ("conditions", 0, "amount") -> conditions-0-amount."""
    if isinstance(key, tuple):
        return "-".join(str(part) for part in key)
    return key or FORM


def named(errors: Mapping[ErrorPath, list[str]]) -> dict[str, list[str]]:
    """Messages by path -> messages by input name."""
    by_name: dict[str, list[str]] = {}
    for key, messages in errors.items():
        by_name.setdefault(field_name(key), []).extend(messages)
    return by_name


def error_messages(exc: CommerceError) -> dict[str, list[str]]:
    """A domain error's messages by input name; a message about no field is keyed "form"."""
    return named(getattr(exc, "errors", None) or {exc.field or FORM: [exc.message]})


def _fields(form: Any) -> Iterator[tuple[str, Field]]:
    """Every field of a form by its input name, into FieldLists and FormFields (whose inner
    fields are named `<list>-<n>-<field>`); top-level fields also by their attribute name."""
    for field in form:
        yield field.name, field
        if field.short_name != field.name:
            yield field.short_name, field
        if isinstance(field, FieldList):
            for entry in field.entries:
                yield entry.name, entry
                if isinstance(entry, FormField):
                    yield from ((sub.name, sub) for sub in entry.form)
        elif isinstance(field, FormField):
            yield from ((sub.name, sub) for sub in field.form)


def apply_errors(
    form: FlaskForm | None, exc: CommerceError, *, elsewhere: tuple[str, ...] = ()
) -> dict[str, list[str]]:
    """Put a domain error's messages at the form's fields; the others become form-level
    messages, except those whose name starts with one of `elsewhere` (the view shows them
    in a place of its own). Returns the messages no field took, by name."""
    fields = dict(_fields(form)) if form is not None else {}
    leftover: dict[str, list[str]] = {}
    for name, messages in error_messages(exc).items():
        field = fields.get(name) if name != FORM else None
        if field is not None:
            field.errors = list(field.errors or []) + list(messages)
        else:
            leftover.setdefault(name, []).extend(messages)
    if form is not None:
        for name, messages in leftover.items():
            if not (elsewhere and name.startswith(elsewhere)):
                form.form_errors.extend(messages)
    return leftover


@dataclass
class Submission(Generic[T]):
    """What became of a posted form: `ok` with the service's `value`, or not (the messages
    are on the form; `error` is the domain's refusal, None when the form itself was invalid)."""

    ok: bool = False
    value: T | None = None
    error: CommerceError | None = None


def submit(
    form: FlaskForm,
    run: Callable[[], T],
    *,
    expired: str = FORM_EXPIRED,
    elsewhere: tuple[str, ...] = (),
    refusals: tuple[type[CommerceError], ...] = (CommerceError,),
) -> Submission[T]:
    """Validate the posted form, then run the one service call. An invalid form (an expired
    token says so) or a domain error leaves its messages on the form; `refusals` narrows the
    domain errors that do (others go on to the app's error pages)."""
    if not form.validate_on_submit():
        note_expired(form, expired)
        return Submission()
    try:
        return Submission(ok=True, value=run())
    except refusals as exc:
        apply_errors(form, exc, elsewhere=elsewhere)
        return Submission(error=exc)


def failed_status(exc: CommerceError | None = None) -> int:
    """422 for input the person can correct; a domain error's own 4xx (409 a conflict, 402 a
    declined card...) when it is about something else."""
    if exc is None or exc.status in (400, 422):
        return 422
    return exc.status


def form_status() -> int:
    """A form page's status: 200 for a GET, 422 for a POST that came back to its form (a
    valid one redirects)."""
    return 422 if request.method == "POST" else 200
