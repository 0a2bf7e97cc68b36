"""Browsing the catalog."""

from __future__ import annotations

from flask import Response, current_app, render_template, send_from_directory
from sqlalchemy import select

from commerce.catalog.models import ACTIVE, Product
from commerce.extensions import db
from storefront import bp


@bp.route("/")
def home() -> str:
    products = db.session.scalars(
        select(Product)
        .where(Product.status == ACTIVE)
        .order_by(Product.published_at.desc())
        .limit(24)
    )
    return render_template("storefront/home.html", products=list(products))


@bp.route("/media/<path:path>")
def media_file(path: str) -> Response:
    """Stored product images; file names are random, so they may be cached for long."""
    return send_from_directory(current_app.config["MEDIA_ROOT"], path, max_age=7 * 24 * 3600)
