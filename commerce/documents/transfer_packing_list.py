"""A transfer's packing list as a PDF (WeasyPrint, like the order's packing slip): what to
pick at the origin and tick on arrival, with a Code 128 barcode of the transfer's number."""

from __future__ import annotations

from commerce.documents.render import _html, _local_date, barcode_uri, html_to_pdf
from commerce.inventory.transfer_models import StockTransfer


def transfer_packing_list_pdf(transfer: StockTransfer) -> bytes:
    return html_to_pdf(
        _html(
            "documents/transfer_packing_list.html",
            transfer=transfer,
            units=sum(line.shipped or line.quantity for line in transfer.lines),
            shipped_on=_local_date(transfer.shipped_at),
            barcode=barcode_uri(transfer.number),
        )
    )
