"""PDFs of invoices, packing slips and credit notes, rendered by WeasyPrint from
templates/documents/.

Everything a page shows comes from the order's snapshot and the shop settings, so a document
printed again next year reads the same. Rendering never touches the network: the logo and the
barcode are embedded as data: URLs and the fetcher refuses every other scheme, so an external
URL in a template or inside an SVG logo cannot make the server call out (or hang on it).
"""

from __future__ import annotations

import base64
import io
import logging
import mimetypes
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import weasyprint
from babel.dates import format_date, get_timezone
from babel.numbers import format_decimal
from barcode import Code128
from flask import current_app
from pypdf import PdfWriter
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

from commerce.countries import address_lines
from commerce.documents.models import Document
from commerce.documents.numbering import (
    NOT_NUMBERED_CREDIT_NOTE,
    NOT_NUMBERED_INVOICE,
    credit_note_for,
    invoice_for,
)
from commerce.errors import NotFound
from commerce.extensions import db
from commerce.giftcards.models import GIFT_CARD, Tender
from commerce.giftcards.tenders import order_tenders
from commerce.inventory.models import Location
from commerce.orders.emails import tax_label
from commerce.orders.models import Fulfillment, Order, OrderLine, Refund
from commerce.payments.models import Payment

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
LETTER_TERRITORIES = {"US", "CA", "MX", "PH"}  # everyone else prints on A4
BARCODE_MODULE_MM = 0.33  # the narrowest bar: scanners read 0.25 mm and up
BARCODE_HEIGHT_MM = 14
BARCODE_QUIET_MODULES = 10  # Code 128 wants ten narrow bars of white on each side
_CHUNK = 200  # orders loaded per query in a bulk print
SLIP_BATCH = 50  # slips laid out before their pages are written (bounds a bulk print's memory)


@dataclass(frozen=True, slots=True)
class Shop:
    """What every document prints about the seller (from the SHOP_* settings)."""

    name: str
    address_lines: list[str]
    tax_id: str
    email: str
    logo: str | None  # a data: URL, or None when the file is missing


def shop_identity() -> Shop:
    config = current_app.config
    address = str(config.get("SHOP_ADDRESS") or "")
    return Shop(
        name=str(config.get("SHOP_NAME") or ""),
        address_lines=[line.strip() for line in address.splitlines() if line.strip()],
        tax_id=str(config.get("SHOP_TAX_ID") or ""),
        email=str(config.get("SHOP_EMAIL") or ""),
        logo=_logo_uri(str(config.get("SHOP_LOGO") or "")),
    )


def _logo_uri(path: str) -> str | None:
    if not path:
        return None
    file = Path(path)
    try:
        stamp = file.stat().st_mtime_ns
    except OSError:
        log.warning("SHOP_LOGO %s cannot be read; documents print without a logo", path)
        return None
    return _data_uri(str(file), stamp)


@lru_cache(maxsize=8)
def _data_uri(path: str, _mtime_ns: int) -> str:
    """The file as a data: URL (cached until the file changes)."""
    kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
    if path.lower().endswith(".svg"):
        kind = "image/svg+xml"
    encoded = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f"data:{kind};base64,{encoded}"


# -- barcode -----------------------------------------------------------------------------------


def code128_modules(text: str) -> str:
    """The Code 128 bar pattern of `text` ("1" a bar module, "0" a space), checksum and stop
    included; python-barcode picks the code sets (set C packs the digits of an order number)."""
    return "".join(Code128(text).build())


def code128_svg(text: str) -> str:
    """A Code 128 barcode as a standalone SVG drawing: one rect per bar, in module units.

    The viewBox is in modules and the size in millimetres, so it prints at
    BARCODE_MODULE_MM per module whatever the layout does, with the quiet zones scanners need.
    """
    modules = code128_modules(text)
    quiet = BARCODE_QUIET_MODULES
    width = len(modules) + 2 * quiet
    bars = []
    position = 0
    for run in _runs(modules):
        if run[0] == "1":
            bars.append(f'<rect x="{quiet + position}" y="0" width="{len(run)}" height="100"/>')
        position += len(run)
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" version="1.1" '
        f'viewBox="0 0 {width} 100" preserveAspectRatio="none" '
        f'width="{width * BARCODE_MODULE_MM:.2f}mm" height="{BARCODE_HEIGHT_MM}mm" '
        f'shape-rendering="crispEdges"><title>{_xml_text(text)}</title>'
        f'<rect x="0" y="0" width="{width}" height="100" fill="#fff"/>'
        f'<g fill="#000">{"".join(bars)}</g></svg>'
    )


def _runs(modules: str) -> Iterable[str]:
    start = 0
    for i in range(1, len(modules) + 1):
        if i == len(modules) or modules[i] != modules[start]:
            yield modules[start:i]
            start = i


def _xml_text(text: str) -> str:
    return quoteattr(text)[1:-1]


def barcode_uri(text: str) -> str:
    encoded = base64.b64encode(code128_svg(text).encode()).decode("ascii")
    return f"data:image/svg+xml;base64,{encoded}"


# -- formatting helpers --------------------------------------------------------------------------


def _local_date(moment: datetime | None) -> str:
    if moment is None:
        return ""
    config = current_app.config
    local = moment.replace(tzinfo=UTC).astimezone(get_timezone(config["SHOP_TIMEZONE"]))
    return format_date(local.date(), format="long", locale=config["SHOP_LOCALE"])


def _percent(bps: int) -> str:
    value = format_decimal(
        Decimal(bps) / 100, format="#,##0.##", locale=current_app.config["SHOP_LOCALE"]
    )
    return f"{value}%"


def page_size() -> str:
    """Letter where the shop's locale uses it, A4 elsewhere; DOCUMENT_PAGE_SIZE overrides."""
    configured = current_app.config.get("DOCUMENT_PAGE_SIZE")
    if configured:
        return str(configured)
    territory = str(current_app.config.get("SHOP_LOCALE") or "").replace("-", "_").split("_")[-1]
    return "Letter" if territory.upper() in LETTER_TERRITORIES else "A4"


# -- rendering -----------------------------------------------------------------------------------


def _html(template: str, **context: Any) -> str:
    """Straight from the Jinja environment (no request needed: a Celery worker renders too)."""
    base = {"shop": shop_identity(), "page_size": page_size()}
    return current_app.jinja_env.get_template(template).render({**base, **context})


def _layout(html: str, font_config: FontConfiguration | None = None) -> weasyprint.Document:
    fetcher = URLFetcher(allowed_protocols=("data",), timeout=1)
    static = Path(current_app.static_folder or ".")
    return weasyprint.HTML(string=html, base_url=static.as_uri() + "/", url_fetcher=fetcher).render(
        font_config=font_config
    )


def html_to_pdf(html: str) -> bytes:
    """Any document's HTML to PDF bytes, with only data: URLs fetched (never the network)."""
    return _layout(html).write_pdf()


def invoice_pdf(order: Order) -> bytes:
    """The order's invoice as numbered at its business event (placement) or by an explicit
    issue: reading a document never numbers one. NotFound while it has no number."""
    invoice = invoice_for(order)
    if invoice is None:
        raise NotFound(NOT_NUMBERED_INVOICE, order_id=order.id)
    return html_to_pdf(_html("documents/invoice.html", **invoice_context(order, invoice)))


def invoice_context(order: Order, invoice: Document) -> dict[str, Any]:
    return {
        "order": order,
        "invoice": invoice,
        "issued_on": _local_date(invoice.issued_at),
        "placed_on": _local_date(order.placed_at),
        "bill_to": address_lines(order.shipping_address),
        "ship_to": address_lines(order.shipping_address),
        "discounts": order.discounts(),
        "shipping_discounts": order.shipping_discounts(),
        "tax_label": tax_label(order),
        "line_rates": {line.id: _percent(line.tax_rate_bps) for line in order.lines},
        "payments": payments_of(order),
    }


def _tender_label(tender: Tender) -> str:
    if tender.kind == GIFT_CARD and tender.gift_card is not None:
        return f"Gift card ending {tender.gift_card.last4}"
    return "Store credit"


def payments_of(order: Order) -> list[tuple[str, int]]:
    """How the order was paid, as the invoice lists it: each gift card and the store credit,
    then the card for the rest (empty when the card paid it all: "Paid" says so)."""
    tenders = order_tenders(order.id)
    if not tenders:
        manual = _manual_payment(order.payment_id)
        if manual is not None and order.paid_total:  # a draft marked paid: how it came
            return [(manual.how_paid or "Payment received", order.paid_total)]
        return []
    lines = [(_tender_label(t), t.amount) for t in tenders]
    by_card = order.paid_total - sum(t.amount for t in tenders)
    if by_card > 0:
        lines.append(("Card", by_card))
    return lines


def refunded_to(refund: Refund) -> list[tuple[str, int]]:
    """Where a refund's money went, as the credit note says it."""
    if refund.destination == "store_credit":
        return [("Store credit", refund.amount)]
    lines: list[tuple[str, int]] = []
    parts = dict((tender_id, part) for tender_id, part in refund.tender_plan or [])
    for tender in order_tenders(refund.order_id):
        if tender.id in parts:
            lines.append((_tender_label(tender), parts[tender.id]))
    rest = refund.amount - sum(parts.values())
    if rest > 0:
        manual = _manual_payment(refund.payment_id)
        label = "Paid back to you directly" if manual is not None else "Original payment method"
        lines.append((label, rest))
    return lines


def _manual_payment(payment_id: int | None) -> Payment | None:
    """The payment if it was received outside the shop (bank transfer, cash), else None."""
    payment = db.session.get(Payment, payment_id) if payment_id else None
    return payment if payment is not None and payment.is_manual else None


def credit_note_pdf(refund: Refund) -> bytes:
    """The refund's credit note as numbered when the refund went through (or by an explicit
    issue); never numbered here. NotFound while it has no number."""
    note = credit_note_for(refund)
    order = refund.order
    invoice = invoice_for(order)
    if note is None or invoice is None:
        raise NotFound(NOT_NUMBERED_CREDIT_NOTE, refund_id=refund.id)
    return html_to_pdf(
        _html(
            "documents/credit_note.html",
            order=order,
            refund=refund,
            note=note,
            invoice=invoice,
            issued_on=_local_date(note.issued_at),
            invoice_issued_on=_local_date(invoice.issued_at),
            bill_to=address_lines(order.shipping_address),
            tax_label=tax_label(order),
            refunded_to=refunded_to(refund),
        )
    )


@dataclass(frozen=True, slots=True)
class SlipLine:
    sku: str
    title: str
    quantity: int
    note: str = ""
    # A bundle's components to pack under it: (sku, title, units for this line's quantity).
    components: tuple[tuple[str, str, int], ...] = ()


def _parts(line: OrderLine, quantity: int) -> tuple[tuple[str, str, int], ...]:
    return tuple(
        (str(c.get("sku") or ""), str(c.get("title") or ""), int(c["quantity"]) * quantity)
        for c in line.components
    )


def _slip_html(order: Order, fulfillment: Fulfillment | None = None) -> str:
    if fulfillment is not None:
        sold = {fl.order_line_id: fl.order_line for fl in fulfillment.lines}
        lines = [
            SlipLine(
                sold[line_id].sku or "",
                sold[line_id].title,
                units,
                components=_parts(sold[line_id], units),
            )
            for line_id, units in fulfillment.units_by_line().items()
        ]
        location = db.session.get(Location, fulfillment.location_id)
    else:
        lines = [
            SlipLine(
                line.sku or "",
                line.title,
                line.quantity,
                f"{line.fulfilled_quantity} shipped earlier"
                if 0 < line.fulfilled_quantity < line.quantity
                else "",
                _parts(line, line.quantity),
            )
            for line in order.lines
            if line.requires_shipping  # a custom item that does not ship is not packed
        ]
        location = None
    number = str(order.number or order.id)
    return _html(
        "documents/packing_slip.html",
        order=order,
        fulfillment=fulfillment,
        location=location,
        lines=lines,
        item_count=sum(line.quantity for line in lines),
        ship_to=address_lines(order.shipping_address),
        placed_on=_local_date(order.placed_at),
        barcode=barcode_uri(number),
        barcode_text=number,
    )


def packing_slip_pdf(target: Order | Fulfillment) -> bytes:
    """One order's slip (every line), or one parcel's (only its lines, from its location)."""
    if isinstance(target, Fulfillment):
        return html_to_pdf(_slip_html(target.order, target))
    return html_to_pdf(_slip_html(target))


@dataclass(frozen=True, slots=True)
class SlipBatch:
    pdf: bytes
    pages: int
    orders: list[int]  # the numbers printed, in print order
    missing: list[int]  # ids asked for that no longer exist


def packing_slips_pdf(order_ids: Sequence[int], *, progress: Progress | None = None) -> bytes:
    """Every selected order's slip in one PDF, in the order given, one slip per page."""
    return print_packing_slips(order_ids, progress=progress).pdf


def print_packing_slips(order_ids: Sequence[int], *, progress: Progress | None = None) -> SlipBatch:
    """The bulk print with its tally; `progress(done, total)` is called after each slip.

    Each slip is laid out as its own document (so its page numbers count its own pages) and
    the pages are joined. A laid-out page holds about 1.5 MB until the PDF is written, so slips
    are written in batches of SLIP_BATCH and the batches joined (pypdf): memory stays flat
    however many orders are selected.
    """
    wanted = list(dict.fromkeys(int(i) for i in order_ids))
    found = _load_orders(wanted)
    orders = [found[i] for i in wanted if i in found]
    if not orders:
        raise NotFound("None of the selected orders exist.")
    parts: list[bytes] = []
    page_count = 0
    for start in range(0, len(orders), SLIP_BATCH):
        font_config = FontConfiguration()  # one per batch: its fonts embed once per batch
        first: weasyprint.Document | None = None
        pages: list[Any] = []
        for done, order in enumerate(orders[start : start + SLIP_BATCH], start=start + 1):
            laid_out = _layout(_slip_html(order), font_config)
            first = first or laid_out
            pages.extend(laid_out.pages)
            if progress is not None:
                progress(done, len(orders))
        assert first is not None
        parts.append(first.copy(pages).write_pdf())
        page_count += len(pages)
    return SlipBatch(
        pdf=parts[0] if len(parts) == 1 else _join_pdfs(parts),
        pages=page_count,
        orders=[order.number or order.id for order in orders],
        missing=[i for i in wanted if i not in found],
    )


def _join_pdfs(parts: list[bytes]) -> bytes:
    writer = PdfWriter()
    for part in parts:
        writer.append(io.BytesIO(part))
    writer.add_metadata({"/Title": "Packing slips", "/Creator": shop_identity().name})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _load_orders(ids: list[int]) -> dict[int, Order]:
    loaded: dict[int, Order] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for order in db.session.scalars(
            select(Order).where(Order.id.in_(chunk)).options(selectinload(Order.lines))
        ):
            loaded[order.id] = order
    return loaded
