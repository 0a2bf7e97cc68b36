"""The form handling both web faces share (web/forms.py): a domain error's paths land at the
fields WTForms names after them, the rest at the form; an expired token says so; a POST that
comes back to its form is a 422."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import FieldList, Form, FormField, StringField

from commerce.errors import Conflict, NotFound, ValidationError
from web.forms import (
    FORM_EXPIRED,
    apply_errors,
    error_messages,
    failed_status,
    field_name,
    form_status,
    note_expired,
    submit,
)


class Row(Form):
    param = StringField("Param")


class Builder(FlaskForm):
    name = StringField("Name")
    conditions = FieldList(FormField(Row), min_entries=2)


POSTED = {"name": "Sale", "conditions-0-param": "1", "conditions-1-param": "2"}


def test_a_path_is_named_as_wtforms_names_the_field():
    assert field_name(("conditions", 0, "param")) == "conditions-0-param"
    assert field_name(("rules", 2)) == "rules-2"
    assert field_name("email") == "email"
    assert field_name("") == "form"


def test_messages_land_at_the_fields_their_paths_name(app):
    refusal = ValidationError(
        errors={
            "name": ["Give it a name."],
            ("conditions", 1, "param"): ["Enter 1 or more."],
            ("conditions", 7, "param"): ["No such row."],
            ("rules", 0): ["Kept for the view."],
        }
    )
    with app.test_request_context(method="POST", data=POSTED):
        form = Builder()
        leftover = apply_errors(form, refusal, elsewhere=("rules",))
        assert form.name.errors == ["Give it a name."]
        assert form.conditions[1].param.errors == ["Enter 1 or more."]
        assert form.conditions[1].param.name == "conditions-1-param"
        assert not form.conditions[0].param.errors
        assert form.form_errors == ["No such row."]  # no such field: at the form
        assert leftover == {
            "conditions-7-param": ["No such row."],
            "rules-0": ["Kept for the view."],
        }


def test_an_error_about_no_field_is_a_message_at_the_form(app):
    assert error_messages(Conflict("Someone else saved first.")) == {
        "form": ["Someone else saved first."]
    }
    assert error_messages(ValidationError("Too short.", field="name")) == {"name": ["Too short."]}
    with app.test_request_context(method="POST", data=POSTED):
        form = Builder()
        apply_errors(form, Conflict("Someone else saved first."))
        assert form.form_errors == ["Someone else saved first."]


def test_submit_runs_the_service_once_the_form_is_valid(app):
    with app.test_request_context(method="POST", data=POSTED):
        form = Builder()
        sent = submit(form, lambda: form.name.data.upper())
        assert (sent.ok, sent.value, sent.error) == (True, "SALE", None)

        def refuse() -> None:
            raise ValidationError(errors={("conditions", 0, "param"): ["Enter a number."]})

        sent = submit(Builder(), refuse)
        assert not sent.ok and isinstance(sent.error, ValidationError)
        assert form_status() == 422


def test_submit_leaves_other_errors_to_the_app_when_told(app):
    def gone() -> None:
        raise NotFound("No such thing.")

    with app.test_request_context(method="POST", data=POSTED):
        try:
            submit(Builder(), gone, refusals=(ValidationError,))
        except NotFound:
            pass
        else:
            raise AssertionError("NotFound was swallowed")


def test_an_expired_token_says_so_at_the_form(app):
    with app.test_request_context(method="POST", data=POSTED):
        form = Builder()
        form.validate()
        note_expired(form)
        assert form.form_errors == []  # the token was fine (or not checked): nothing to say
        form.csrf_token = StringField().bind(form, "csrf_token")
        form.csrf_token.errors = ["The CSRF token has expired."]
        note_expired(form)
        assert form.form_errors == [FORM_EXPIRED]
        assert FORM_EXPIRED == "The form expired; reload the page and try again."


def test_failed_status():
    assert failed_status() == 422
    assert failed_status(ValidationError("No.")) == 422
    assert failed_status(Conflict("Taken.")) == 409
    assert failed_status(NotFound("Gone.")) == 404


def test_a_get_is_200(app):
    with app.test_request_context(method="GET"):
        assert form_status() == 200
