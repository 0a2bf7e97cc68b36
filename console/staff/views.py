"""Admins manage staff: invite or create, change role, deactivate and reactivate."""

from __future__ import annotations

from typing import Any

from flask import current_app, request, url_for
from flask_login import current_user
from sqlalchemy import select

from commerce.accounts.sessions import STAFF, describe_device, live_sessions
from commerce.errors import CommerceError
from commerce.extensions import db
from commerce.staff.models import StaffMember
from commerce.staff.permissions import ROLE_LABELS, ROLE_PERMISSIONS, role_abilities
from commerce.staff.services import (
    change_role,
    create_staff,
    deactivate_staff,
    get_staff,
    invitation_token,
    reactivate_staff,
)
from console.forms import ConfirmForm, RoleForm, StaffForm
from console.web import done, form_error_summary, toast
from web.forms import apply_errors, form_status
from web.pages import render


def _invite_link(member: StaffMember) -> str:
    token = invitation_token(member, secret_key=current_app.config["SECRET_KEY"])
    return url_for("console.accept_invite", token=token, _external=True)


def staff_list() -> Any:
    show = request.args.get("show", "active")
    stmt = select(StaffMember).order_by(StaffMember.email)
    if show == "active":
        stmt = stmt.where(StaffMember.is_active.is_(True))
    elif show == "inactive":
        stmt = stmt.where(StaffMember.is_active.is_(False))
    members = list(db.session.scalars(stmt))
    return render(
        "console/staff/list.html",
        "console/staff/_table.html",
        members=members,
        show=show,
        role_labels=ROLE_LABELS,
        form=StaffForm(),
    )


def staff_new() -> Any:
    form = StaffForm()
    if form.validate_on_submit():
        try:
            member = create_staff(
                form.email.data, role=form.role.data, name=form.name.data or "", by=current_user
            )
        except CommerceError as exc:
            apply_errors(form, exc)
        else:
            return render(
                "console/staff/invited.html",
                member=member,
                link=_invite_link(member),
                role_labels=ROLE_LABELS,
            )
    return render(
        "console/staff/new.html",
        "console/staff/_form.html",
        form=form,
        status=form_status(),
        role_abilities={role: role_abilities(role) for role in ROLE_PERMISSIONS},
        role_labels=ROLE_LABELS,
    )


def _detail_page(member: StaffMember, form: RoleForm | None = None, *, status: int = 200) -> Any:
    return render(
        "console/staff/detail.html",
        member=member,
        form=form or RoleForm(role=member.role),
        confirm=ConfirmForm(),
        role_labels=ROLE_LABELS,
        invite_link=_invite_link(member) if member.invited_at else None,
        sessions=live_sessions(STAFF, member),
        describe=describe_device,
        status=status,
    )


def staff_detail(staff_id: int) -> Any:
    return _detail_page(get_staff(staff_id))


def staff_role(staff_id: int) -> Any:
    member = get_staff(staff_id)
    form = RoleForm()
    if not form.validate_on_submit():
        return _detail_page(member, form, status=422)
    try:
        change_role(member, role=form.role.data, by=current_user)
    except CommerceError as exc:
        apply_errors(form, exc)
        return toast(_detail_page(member, form, status=422), form_error_summary(exc), level="error")
    return done(
        f"{member.email} is now {ROLE_LABELS[member.role]}.",
        url_for("console.staff_detail", staff_id=member.id),
    )


def staff_deactivate(staff_id: int) -> Any:
    member = get_staff(staff_id)
    ConfirmForm().validate_on_submit()
    try:
        deactivate_staff(member, by=current_user)
    except CommerceError as exc:
        return done(exc.message, url_for("console.staff_detail", staff_id=member.id), level="error")
    return done(
        f"{member.email} is deactivated and signed out.",
        url_for("console.staff_detail", staff_id=member.id),
    )


def staff_reactivate(staff_id: int) -> Any:
    member = get_staff(staff_id)
    reactivate_staff(member, by=current_user)
    return done(
        f"{member.email} can sign in again.", url_for("console.staff_detail", staff_id=member.id)
    )
