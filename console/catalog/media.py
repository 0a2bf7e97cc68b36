"""Product images: upload, alt text, order, delete; and serving stored files."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_login import current_user

from commerce.catalog.media import add_image, delete_image, get_media, move_image, update_image_alt
from commerce.catalog.services import get_product
from commerce.errors import CommerceError, ValidationError
from console.forms import ConfirmForm, MediaAltForm, MediaUploadForm
from console.web import done, form_error_summary, toast
from web.forms import expired_message
from web.pages import is_htmx, render


def _media_response(
    product: Any,
    *,
    status: int = 200,
    message: str | None = None,
    level: str = "success",
    errors: list[str] | None = None,
) -> Any:
    response = render(
        "console/catalog/_media.html",
        "console/catalog/_media.html",
        status=status,
        product=product,
        media_form=MediaUploadForm(formdata=None),
        confirm=ConfirmForm(),
        media_errors=errors or [],
        can_edit=current_user.can("catalog.edit"),
    )
    return toast(response, message, level=level) if message else response


def _finish(
    product: Any,
    message: str,
    *,
    level: str = "success",
    status: int = 200,
    errors: list[str] | None = None,
) -> Any:
    if is_htmx():
        return _media_response(product, status=status, message=message, level=level, errors=errors)
    if status >= 400:
        from commerce.audit import query_entries  # noqa: F401  (editor context is rebuilt below)
        from console.catalog.products import _editor_context

        return render(
            "console/catalog/edit.html",
            status=status,
            media_errors=errors or [],
            **_editor_context(product),
        )
    return done(
        message, url_for("console.product_edit", product_id=product.id) + "#media", level=level
    )


def media_upload(product_id: int) -> Any:
    product = get_product(product_id)
    form = MediaUploadForm()
    if not form.validate_on_submit():
        return _finish(
            product,
            expired_message("reload the page"),
            level="error",
            status=422,
            errors=[expired_message("reload the page")],
        )
    files = [f for f in request.files.getlist("image") if f and f.filename]
    if not files:
        return _finish(
            product,
            "Choose an image file.",
            level="error",
            status=422,
            errors=["Choose an image file."],
        )
    try:
        for storage in files:
            add_image(
                product,
                data=storage.read(),
                filename=storage.filename or "",
                alt=form.alt.data or "",
                by=current_user,
            )
    except CommerceError as exc:
        message = form_error_summary(exc)
        return _finish(product, message, level="error", status=422, errors=[message])
    noun = "image" if len(files) == 1 else "images"
    return _finish(product, f"{len(files)} {noun} uploaded.")


def media_alt(media_id: int) -> Any:
    media = get_media(media_id)
    form = MediaAltForm()
    if not form.validate_on_submit():
        return _finish(
            media.product,
            "Alt text is at most 512 characters.",
            level="error",
            status=422,
            errors=["Alt text is at most 512 characters."],
        )
    update_image_alt(media, alt=form.alt.data or "", by=current_user)
    return _finish(media.product, "Alt text saved.")


def media_move(media_id: int) -> Any:
    media = get_media(media_id)
    ConfirmForm().validate_on_submit()
    try:
        position = int(request.form.get("position", ""))
    except ValueError:
        raise ValidationError("Give a position.", field="position") from None
    move_image(media, to_position=position, by=current_user)
    return _finish(media.product, "Image order saved.")


def media_delete(media_id: int) -> Any:
    media = get_media(media_id)
    product = media.product
    ConfirmForm().validate_on_submit()
    delete_image(media, by=current_user)
    return _finish(product, "Image deleted.")
