"""Admins make Admin API tokens here: a name, scopes and an optional expiry; the secret is
shown once, at creation (only its hash is kept); list and revoke."""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from flask import request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import DateField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from commerce.errors import CommerceError
from commerce.staff.permissions import SCOPES
from commerce.staff.tokens import create_token, get_token, list_tokens, revoke_token
from console.forms import ConfirmForm
from console.web import done
from web.forms import apply_errors
from web.pages import render


class ApiTokenForm(FlaskForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=120)])
    scopes = SelectMultipleField(
        "Scopes",
        choices=[(scope, f"{scope}: {label}") for scope, (label, _perms) in SCOPES.items()],
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    expires_on = DateField("Expires on (optional, end of that day UTC)", validators=[Optional()])


def _page(form: ApiTokenForm, *, status: int = 200) -> Any:
    return render(
        "console/staff/api_tokens.html",
        form=form,
        tokens=list_tokens(),
        confirm=ConfirmForm(),
        status=status,
    )


def api_tokens() -> Any:
    return _page(ApiTokenForm())


def api_token_create() -> Any:
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return _page(form, status=422)
    expires_at = (
        datetime.combine(form.expires_on.data, time.max).replace(microsecond=0)
        if form.expires_on.data
        else None
    )
    try:
        token, secret = create_token(
            form.name.data, scopes=form.scopes.data, expires_at=expires_at, by=current_user
        )
    except CommerceError as exc:
        apply_errors(form, exc)
        return _page(form, status=422)
    return render("console/staff/api_token_created.html", token=token, secret=secret)


def api_token_revoke(token_id: int) -> Any:
    token = get_token(token_id)
    ConfirmForm().validate_on_submit()
    revoke_token(token, by=current_user)
    target = url_for("console.api_tokens")
    if request.headers.get("HX-Request"):
        return done(f"Token {token.name} is revoked.", target)
    return done(f"Token {token.name} is revoked: it stops working at once.", target)
