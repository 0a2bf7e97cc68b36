"""Search merchandising, part one: synonyms, stop words and typo settings, and whether the
latest settings have reached the search backend (with a "Push now" button).

Every change goes through commerce.search.rules, which validates, audits and queues
the push; reading needs `search.view`, changing `search.edit`. The query rules live in
search_rules.py; the tabs across these screens are templates/console/search/_tabs.html.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Response, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, RadioField, StringField, TextAreaField

from commerce.audit import query_entries
from commerce.errors import CommerceError, ValidationError
from commerce.search.models import SearchSettings, SearchSynonym
from commerce.search.port import SearchBackendError, TypoSettings
from commerce.search.rules import (
    EQUIVALENT,
    ONE_WAY,
    add_synonym,
    delete_synonym,
    get_synonym,
    list_synonyms,
    settings_row,
    update_settings,
    update_synonym,
)
from commerce.search.services import push_settings, push_status
from console.forms import ConfirmForm
from console.web import done, int_arg, toast
from web.forms import FORM_EXPIRED, apply_errors
from web.pages import is_htmx, render

VIEW, EDIT = "search.view", "search.edit"
KIND_LABELS = {
    EQUIVALENT: "Equivalent: every word finds the others (tee = t-shirt = tshirt)",
    ONE_WAY: "One way: the first word also finds the others, not the reverse "
    "(hoodie → sweatshirt: “hoodie” finds sweatshirts, “sweatshirt” does not find hoodies)",
}
BACKEND_LABELS = {"db": "Built-in (database)", "meilisearch": "Meilisearch"}


def search_context(tab: str) -> dict[str, Any]:
    """What every search screen shows around its content: the tabs and the push status."""
    return {
        "tab": tab,
        "push": push_status(),
        "backend_labels": BACKEND_LABELS,
        "can_edit": current_user.can(EDIT),
    }


def _page_arg() -> int:
    return int_arg("page") or 1


# -- synonyms -----------------------------------------------------------------------------------


class SynonymForm(FlaskForm):
    terms = TextAreaField(
        "Words or phrases",
        description="Separate them with commas or new lines, e.g. tee, t-shirt, tshirt.",
    )
    kind = RadioField(
        "Kind", choices=list(KIND_LABELS.items()), default=EQUIVALENT, validate_choice=False
    )


def search_home() -> Response:
    return redirect(url_for("console.search_synonyms"))


def search_synonyms() -> Response:
    q = request.args.get("q", "").strip()[:100]
    page = list_synonyms(q=q, page=_page_arg(), per_page=50)
    return render(
        "console/search/synonyms.html",
        "console/search/_synonyms.html",
        page=page,
        q=q,
        confirm=ConfirmForm(),
        **search_context("synonyms"),
    )


def _synonym_page(
    synonym: SearchSynonym | None, form: SynonymForm, *, status: int = 200
) -> Response:
    history = []
    if synonym is not None:
        history = query_entries(
            subject_type=SearchSynonym.audit_type, subject_id=str(synonym.id), limit=20
        )
    return render(
        "console/search/synonym_form.html",
        status=status,
        synonym=synonym,
        form=form,
        history=history,
        confirm=ConfirmForm(),
        **search_context("synonyms"),
    )


def _save_synonym(synonym: SearchSynonym | None) -> Response:
    form = SynonymForm()
    if not form.validate_on_submit():
        form.form_errors.append(FORM_EXPIRED)
        return _synonym_page(synonym, form, status=422)
    try:
        if synonym is None:
            saved = add_synonym(terms=form.terms.data or "", kind=form.kind.data, by=current_user)
            message = f"Added the synonyms {saved.audit_label}."
        else:
            saved = update_synonym(
                synonym, terms=form.terms.data or "", kind=form.kind.data, by=current_user
            )
            message = f"Saved the synonyms {saved.audit_label}."
    except CommerceError as exc:
        apply_errors(form, exc)
        return _synonym_page(synonym, form, status=exc.status)
    return done(f"{message} {_push_note()}".strip(), url_for("console.search_synonyms"))


def _push_note() -> str:
    status = push_status()
    if status.reads_live:
        return "Searches use it at once."
    return "It is on its way to the search engine." if not status.current else ""


def search_synonym_new() -> Response:
    """A new synonym group; `?terms=a,b` fills the words in (from search analytics)."""
    if request.method == "POST":
        return _save_synonym(None)
    terms = [t.strip() for t in request.args.get("terms", "").split(",") if t.strip()]
    form = SynonymForm(formdata=None, data={"terms": ", ".join(terms)[:2000]})
    return _synonym_page(None, form)


def search_synonym_detail(synonym_id: int) -> Response:
    synonym = get_synonym(synonym_id)
    form = SynonymForm(
        formdata=None, data={"terms": ", ".join(synonym.terms or []), "kind": synonym.kind}
    )
    return _synonym_page(synonym, form)


def search_synonym_save(synonym_id: int) -> Response:
    return _save_synonym(get_synonym(synonym_id))


def search_synonym_delete(synonym_id: int) -> Response:
    synonym = get_synonym(synonym_id)
    ConfirmForm().validate_on_submit()
    label = synonym.audit_label
    delete_synonym(synonym, by=current_user)
    return done(f"Deleted the synonyms {label}.", url_for("console.search_synonyms"))


# -- stop words and typo tolerance --------------------------------------------------------------


class SettingsForm(FlaskForm):
    stop_words = TextAreaField(
        "Stop words",
        description="Words searches ignore (the, of, and). Separate them with commas or new lines.",
    )
    typo_enabled = BooleanField("Forgive typos")
    typo_one = StringField(
        "One typo from", description="Words this long (in letters) may carry one typo."
    )
    typo_two = StringField("Two typos from", description="And two typos from this length.")
    typo_disabled_words = TextAreaField(
        "Exact words only",
        description="Words that must be typed exactly, such as brand names. Separate them with "
        "commas or new lines.",
    )


def _settings_form(row: SearchSettings | None) -> SettingsForm:
    typo = TypoSettings()
    return SettingsForm(
        formdata=None,
        data={
            "stop_words": ", ".join(row.stop_words or []) if row else "",
            "typo_enabled": row.typo_enabled if row else typo.enabled,
            "typo_one": str(row.typo_one if row else typo.one_typo),
            "typo_two": str(row.typo_two if row else typo.two_typos),
            "typo_disabled_words": ", ".join(row.typo_disabled_words or []) if row else "",
        },
    )


def _settings_page(form: SettingsForm, *, status: int = 200) -> Response:
    row = settings_row()
    history = []
    if row is not None:
        history = query_entries(
            subject_type=SearchSettings.audit_type, subject_id=str(row.id), limit=20
        )
    return render(
        "console/search/settings.html",
        status=status,
        form=form,
        history=history,
        **search_context("settings"),
    )


def search_settings() -> Response:
    return _settings_page(_settings_form(settings_row()))


def _length(field: Any, errors: dict[str, list[str]]) -> int | None:
    text = (field.data or "").strip()
    if text.isdigit():
        return int(text)
    errors[field.name] = ["Enter a word length from 1 to 20 letters."]
    return None


def search_settings_save() -> Response:
    form = SettingsForm()
    if not form.validate_on_submit():
        form.form_errors.append(FORM_EXPIRED)
        return _settings_page(form, status=422)
    typed: dict[str, list[str]] = {}
    one, two = _length(form.typo_one, typed), _length(form.typo_two, typed)
    try:
        try:
            update_settings(
                stop_words=form.stop_words.data or "",
                typo_enabled=bool(form.typo_enabled.data),
                typo_one=one,
                typo_two=two,
                typo_disabled_words=form.typo_disabled_words.data or "",
                by=current_user,
            )
        except ValidationError as exc:  # report the lengths that did not read as well
            raise ValidationError(errors={**exc.errors, **typed}) from exc
        if typed:
            raise ValidationError(errors=typed)
    except CommerceError as exc:
        apply_errors(form, exc)
        return _settings_page(form, status=exc.status)
    message = f"Saved the search settings. {_push_note()}".strip()
    return done(message, url_for("console.search_settings"))


# -- pushing the settings -----------------------------------------------------------------------


def _back() -> str:
    """Where the push was asked from (a console path only), or the synonyms."""
    target = request.form.get("next", "")
    parts = urlsplit(target)
    if target.startswith("/console/") and not parts.scheme and not parts.netloc:
        return target
    return url_for("console.search_synonyms")


def search_push() -> Response:
    """Push the merchandising settings to the backend now (inline in the embedded mode,
    otherwise by the sync task)."""
    ConfirmForm().validate_on_submit()
    try:
        status = push_settings(by=current_user)
    except SearchBackendError as exc:
        status, message, level = push_status(), exc.detail, "error"  # staff: what it said
    else:
        if status.reads_live:
            message, level = "The built-in search uses the latest settings.", "success"
        elif status.current:
            message, level = "Pushed the settings to the search engine.", "success"
        elif status.failing:
            message = f"The search engine refused the settings: {status.last_error}"
            level = "error"
        else:
            message, level = "Queued the push: a worker sends the settings shortly.", "success"
    if is_htmx():
        response = render(
            "console/search/_push_status.html",
            push=status,
            backend_labels=BACKEND_LABELS,
            can_edit=True,
            next_url=_back(),
        )
        return toast(response, message, level=level)
    return done(message, _back(), level=level)
