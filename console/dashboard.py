"""The console home: what needs attention, and where to go next."""

from __future__ import annotations

from typing import Any

from flask import jsonify, request, url_for
from sqlalchemy import func, select

from commerce.catalog.models import Product
from commerce.catalog.queries import jump_to
from commerce.extensions import db
from console import bp
from console.permissions import route
from console.web import render


@route(bp, "/", permission="dashboard.view")
def dashboard() -> Any:
    counts = dict(
        db.session.execute(select(Product.status, func.count()).group_by(Product.status)).all()
    )
    return render("console/dashboard.html", counts=counts)


@route(bp, "/low-stock", permission="inventory.view")
def dashboard_low_stock() -> Any:
    """The dashboard's low-stock panel, loaded after the page (an aggregate over every level)."""
    from flask import redirect

    from commerce.inventory.queries import low_stock
    from console.web import is_htmx

    if not is_htmx():  # a panel, not a page: the full list lives in the stock overview
        return redirect(url_for("console.stock_overview", low=1, sort="available", dir="asc"))
    return render(
        "console/_low_stock.html", "console/_low_stock.html", low_stock=low_stock(limit=10)
    )


@route(bp, "/jump", permission="catalog.view")
def jump() -> Any:
    """Ctrl+K: products, SKUs (and later orders) matching what was typed."""
    results = jump_to(request.args.get("q", ""))
    for item in results:
        item["url"] = url_for("console.product_edit", product_id=item["product_id"])
    if request.accept_mimetypes.best == "application/json":
        return jsonify(results)
    return render("console/_jump_results.html", "console/_jump_results.html", results=results)
