"""The catalog CSV formats, ours and Shopify's product CSV, read into one plan per product.

Reading is pure (no database): it recognises the format from the header, groups rows by
handle and checks what the file alone can show (its shape, numbers, duplicates inside it).
Every problem is reported at its row, counted as a spreadsheet shows it (the header is row 1),
and under the column name the file itself uses.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from commerce.bounds import INT_MAX
from commerce.catalog.bundles import parse_components
from commerce.catalog.models import HTML, MAX_OPTIONS
from commerce.csv_safe import unescape_cell
from commerce.errors import ValidationError
from commerce.money import parse_amount

OURS, SHOPIFY = "catalog", "shopify"
FORMAT_LABELS = {OURS: "Catalog CSV", SHOPIFY: "Shopify product CSV"}

COLUMNS = (
    "handle",
    "title",
    "description",
    "description_format",
    "status",
    "vendor",
    "product_type",
    "tags",
    "category",
    "collections",
    "seo_title",
    "seo_description",
    "option1_name",
    "option1_value",
    "option2_name",
    "option2_value",
    "option3_name",
    "option3_value",
    "sku",
    "barcode",
    "price",
    "compare_at_price",
    "cost",
    "weight_grams",
    "inventory_policy",
    "image_src",
    "image_alt",
    "image_position",
    "bundle_components",
)
VARIANT_COLUMNS = (
    "option1_value",
    "option2_value",
    "option3_value",
    "sku",
    "barcode",
    "price",
    "compare_at_price",
    "cost",
    "weight_grams",
    "inventory_policy",
    "inventory_qty",
    "bundle_components",
)
IMAGE_COLUMNS = ("image_src", "image_alt", "image_position")

# Shopify's documented product CSV columns -> our field names. Columns Shopify has and we
# have no place for are named on the report; those whose value would change what is sold
# (a gift card, an untaxed or unshipped item) are read so that a row needing them is refused
# rather than imported without them. "Cost per item" is the variant's (average) unit cost.
SHOPIFY_COLUMNS = {
    "Handle": "handle",
    "Title": "title",
    "Body (HTML)": "description",
    "Vendor": "vendor",
    "Product Category": "category",
    "Type": "product_type",
    "Tags": "tags",
    "Published": "published",
    "Status": "status",
    "Option1 Name": "option1_name",
    "Option1 Value": "option1_value",
    "Option2 Name": "option2_name",
    "Option2 Value": "option2_value",
    "Option3 Name": "option3_name",
    "Option3 Value": "option3_value",
    "Variant SKU": "sku",
    "Variant Grams": "weight_grams",
    "Variant Inventory Qty": "inventory_qty",
    "Variant Inventory Policy": "inventory_policy",
    "Variant Price": "price",
    "Variant Compare At Price": "compare_at_price",
    "Variant Barcode": "barcode",
    "Image Src": "image_src",
    "Image Position": "image_position",
    "Image Alt Text": "image_alt",
    "Variant Image": "variant_image",
    "SEO Title": "seo_title",
    "SEO Description": "seo_description",
    "Gift Card": "gift_card",
    "Variant Taxable": "taxable",
    "Variant Requires Shipping": "requires_shipping",
    "Cost per item": "cost",
}
# Read only to refuse a row that needs what the shop has no place for (Gift Card is stored:
# the product flag; a gift card may say it is untaxed and not shipped; the cost is stored too).
CHECKED_COLUMNS = ("taxable", "requires_shipping")
SHOPIFY_IGNORED = (
    "Variant Inventory Tracker",
    "Variant Fulfillment Service",
    "Variant Weight Unit",
)
_TRUE, _FALSE = {"true", "yes", "1"}, {"false", "no", "0"}
# A comma that is not a thousands separator ("50,00", "1,5", "1.234,56"): a decimal comma.
_GROUPED = re.compile(r"^-?\d{1,3}(,\d{3})+(\.\d+)?$")
_SHOPIFY_MARKERS = {"body (html)", "variant sku", "variant price", "option1 value"}
_EXTRA_OPTION_RE = re.compile(r"^option\s*([4-9]|\d\d+)[ _]?(name|value)$", re.IGNORECASE)
_INT_RE = re.compile(r"^-?\d+(?:\.0+)?$")


@dataclass(frozen=True)
class RowError:
    """One problem, where the merchant will find it in a spreadsheet."""

    row: int
    column: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"row": self.row, "column": self.column, "message": self.message}


@dataclass
class VariantLine:
    row: int
    options: tuple[str, ...]
    fields: dict[str, Any]  # keyword arguments for the variant services
    inventory_qty: int | None = None
    image_src: str | None = None  # Shopify's Variant Image: one of the product's images
    # Our format's "bundle_components" ("SKU-A x1; SKU-B x2"): [] a plain variant, None when
    # the file has no such column (the variant's components are left as they are).
    bundle: list[tuple[str, int]] | None = None

    @property
    def sku(self) -> str | None:
        return self.fields.get("sku")


@dataclass
class ImageLine:
    row: int
    src: str
    alt: str | None
    position: int | None
    from_variant: bool = False  # named by a Variant Image before (or without) its own row


@dataclass
class ProductPlan:
    """Everything the file says about one product (one handle)."""

    handle: str
    row: int
    fields: dict[str, Any]  # keyword arguments for create_product / update_product
    category: str | None = None  # full path; None when the file has no category column
    collections: list[str] | None = None  # handles; None when the file has no such column
    option_names: list[str] | None = None  # None when the file has no option columns
    variants: list[VariantLine] = field(default_factory=list)
    images: list[ImageLine] = field(default_factory=list)

    def option_values(self) -> list[tuple[str, list[str]]]:
        """Each option with its values in the order the rows first use them."""
        result: list[tuple[str, list[str]]] = []
        for index, name in enumerate(self.option_names or []):
            values: list[str] = []
            for line in self.variants:
                if index < len(line.options) and line.options[index] not in values:
                    values.append(line.options[index])
            result.append((name, values))
        return result


@dataclass
class ParsedFile:
    format: str
    headers: dict[str, str]  # our field name -> the header as written in the file
    products: list[ProductPlan]
    errors: list[RowError]
    notes: list[str]
    rows: int

    def column(self, name: str) -> str:
        return self.headers.get(name, name)


class UnknownFormat(ValidationError):
    """The header matches neither our columns nor Shopify's."""


def detect_format(header: list[str]) -> tuple[str, dict[int, str], list[str]]:
    """The format, a map of column index -> our field name, and the ignored column names."""
    names = [h.strip() for h in header]
    lowered = [n.lower() for n in names]
    if _SHOPIFY_MARKERS & set(lowered) and "handle" in lowered:
        table = {k.lower(): v for k, v in SHOPIFY_COLUMNS.items()}
        fmt = SHOPIFY
    elif "handle" in names and set(names) & set(COLUMNS[1:]):
        table = {c: c for c in COLUMNS}
        fmt = OURS
    else:
        raise UnknownFormat(
            "The first row must hold the column names of our catalog export or of a Shopify "
            "product CSV (Handle, Title, Variant SKU, …).",
            field="file",
        )
    mapping: dict[int, str] = {}
    ignored: list[str] = []
    seen: set[str] = set()
    for index, name in enumerate(names):
        key = table.get(name.lower() if fmt == SHOPIFY else name)
        if _EXTRA_OPTION_RE.match(name):
            key = f"extra_option:{index}"
        if key is None or key in seen:
            if name:
                ignored.append(name)
            continue
        seen.add(key)
        mapping[index] = key
    return fmt, mapping, ignored


def read_catalog_csv(lines: Iterable[str], *, currency: str) -> ParsedFile:
    """Parse decoded CSV text (an iterable of lines, as from a file opened with newline="")."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header:
        raise ValidationError("The file is empty.", field="file")
    fmt, mapping, ignored = detect_format(header)
    headers = {key: header[index].strip() for index, key in mapping.items()}
    reader_state = _Reader(fmt, headers, currency)
    for number, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        values = {
            key: unescape_cell(cells[i]) if i < len(cells) else "" for i, key in mapping.items()
        }
        reader_state.add_row(number, values)
    notes = [f"Ignored columns: {', '.join(ignored)}."] if ignored else []
    checked = [headers[key] for key in CHECKED_COLUMNS if key in headers]
    if checked:
        notes.append(
            f"Not stored: {', '.join(checked)}. A row that needs them (an item without tax or "
            "shipping, other than a gift card) is refused."
        )
    return reader_state.finish(notes)


class _Reader:
    """Groups rows into product plans while checking each cell."""

    def __init__(self, fmt: str, headers: dict[str, str], currency: str) -> None:
        self.fmt, self.headers, self.currency = fmt, headers, currency
        self.plans: dict[str, ProductPlan] = {}
        self.errors: list[RowError] = []
        self.skus: dict[str, int] = {}
        self.rows = 0

    # -- helpers --------------------------------------------------------------------------------

    def error(self, row: int, name: str, message: str) -> None:
        self.errors.append(RowError(row, self.headers.get(name, name), message))

    def _amount(self, row: int, values: dict[str, str], name: str) -> int | None:
        """Minor units, or None (blank, or an error recorded at the cell)."""
        text = values.get(name, "").strip()
        if not text:
            return None
        if "," in text and not _GROUPED.match(text):
            self.error(
                row,
                name,
                f"“{text}” is ambiguous: write amounts with a decimal point (like 50.00), "
                "with commas only between thousands (1,250.00).",
            )
            return None
        try:
            return parse_amount(text, self.currency, field=name)
        except ValidationError as exc:
            self.error(row, name, exc.message)
            return None

    def _int(self, row: int, values: dict[str, str], name: str, what: str) -> int | None:
        text = values.get(name, "").strip()
        if not text:
            return None
        if not _INT_RE.match(text) or len(text) > 40:
            self.error(row, name, f"“{text[:40]}” is not {what}.")
            return None
        value = int(text.split(".", 1)[0])  # "3.0" from a spreadsheet is 3: no float
        if abs(value) > INT_MAX:  # the service says the field's own range; this fits a column
            self.error(row, name, f"“{text}” is out of range for {what}.")
            return None
        return value

    # -- rows -----------------------------------------------------------------------------------

    def add_row(self, row: int, values: dict[str, str]) -> None:
        self.rows += 1
        handle = values.get("handle", "").strip()
        title = values.get("title", "").strip()
        plan = self.plans.get(handle)
        extra = [k for k, v in values.items() if k.startswith("extra_option") and v.strip()]
        if extra:
            self.error(row, extra[0], f"A product has at most {MAX_OPTIONS} options.")
        if not handle:
            self.error(row, "handle", "Enter a handle: it ties the row to its product.")
            return
        if title:
            if plan is not None:
                self.error(
                    row,
                    "title",
                    f"“{handle}” already has its product row (row {plan.row}); further rows of "
                    "a product leave the title empty.",
                )
                return
            plan = self._start_product(row, handle, values)
        elif plan is None:
            self.error(
                row,
                "handle",
                f"No product row for “{handle}” above this row: the first row of a product "
                "carries its title.",
            )
            return
        if any(values.get(name, "").strip() for name in VARIANT_COLUMNS):
            self._add_variant(plan, row, values)
        self._add_images(plan, row, values)

    def _start_product(self, row: int, handle: str, values: dict[str, str]) -> ProductPlan:
        plan = ProductPlan(handle=handle, row=row, fields={})
        self.plans[handle] = plan
        fields = plan.fields
        for name in ("title", "vendor", "product_type", "tags", "seo_title", "seo_description"):
            if name in self.headers:
                fields[name] = values.get(name, "").strip()
        if "description" in self.headers:
            fields["description"] = values.get("description", "")
            if self.fmt == SHOPIFY:
                fields["description_format"] = HTML
        if self.fmt == OURS and values.get("description_format", "").strip():
            fields["description_format"] = values["description_format"].strip().lower()
        status = self._status(row, values)
        if status:
            fields["status"] = status
        gift_card = values.get("gift_card", "").strip().lower()
        if gift_card in _TRUE:
            fields["is_gift_card"] = True
        elif gift_card in _FALSE:
            fields["is_gift_card"] = False
        elif gift_card:
            self.error(row, "gift_card", "Gift Card must be TRUE or FALSE.")
        if "category" in self.headers:
            plan.category = " ".join(values.get("category", "").split())
            if self.fmt == SHOPIFY:
                plan.category = " / ".join(p.strip() for p in plan.category.split(">") if p)
        if "collections" in self.headers:
            plan.collections = [
                c.strip() for c in values.get("collections", "").split(";") if c.strip()
            ]
        if "option1_name" in self.headers:
            plan.option_names = self._option_names(row, values)
        return plan

    def _status(self, row: int, values: dict[str, str]) -> str | None:
        status = values.get("status", "").strip().lower()
        if status or self.fmt == OURS:
            return status or None
        if "published" in self.headers:  # Shopify: blank Published means published
            published = values.get("published", "").strip().lower()
            if published in ("", "true", "yes", "1"):
                return "active"
            if published in ("false", "no", "0"):
                return "draft"
            self.error(row, "published", "Published must be TRUE or FALSE.")
        return None

    def _option_names(self, row: int, values: dict[str, str]) -> list[str]:
        names = [values.get(f"option{i}_name", "").strip() for i in range(1, MAX_OPTIONS + 1)]
        while names and not names[-1]:
            names.pop()
        for index, name in enumerate(names, start=1):
            if not name:
                self.error(row, f"option{index}_name", f"Name option {index} (like Size).")
        if self.fmt == SHOPIFY and names == ["Title"]:
            return []  # Shopify's single "Default Title" variant: a product without options
        return names

    def _add_variant(self, plan: ProductPlan, row: int, values: dict[str, str]) -> None:
        names = plan.option_names or []
        options: list[str] = []
        for index in range(1, MAX_OPTIONS + 1):
            value = " ".join(values.get(f"option{index}_value", "").split())
            if index <= len(names):
                if not value:
                    self.error(row, f"option{index}_value", f"Give a value for {names[index - 1]}.")
                options.append(value)
            elif value and not (self.fmt == SHOPIFY and value == "Default Title"):
                self.error(
                    row,
                    f"option{index}_value",
                    f"Option {index} has no name on the product row (row {plan.row}).",
                )
        line = VariantLine(row=row, options=tuple(options), fields={})
        for other in plan.variants:
            if plan.option_names is not None and other.options == line.options:
                message = (
                    f"Row {other.row} already has these option values ({' / '.join(options)})."
                    if options
                    else f"A product without options has one variant, on row {other.row}."
                )
                self.error(row, "option1_value", message)
        self._variant_fields(line, values, gift_card=bool(plan.fields.get("is_gift_card")))
        plan.variants.append(line)

    def _variant_fields(
        self, line: VariantLine, values: dict[str, str], *, gift_card: bool = False
    ) -> None:
        row, fields = line.row, line.fields
        for name in ("sku", "barcode"):
            if name in self.headers:
                fields[name] = values.get(name, "").strip() or None
        sku = fields.get("sku")
        if sku:
            if sku in self.skus:
                self.error(row, "sku", f"SKU “{sku}” is also on row {self.skus[sku]}.")
            else:
                self.skus[sku] = row
        for name in ("price", "compare_at_price"):
            if name in self.headers:
                fields[name] = self._amount(row, values, name)
        if "cost" in self.headers and values.get("cost", "").strip():
            # The unit cost the shop paid (Shopify's "Cost per item"): it sets the variant's
            # average cost; receipts move it from there. A blank cell leaves it as it is.
            fields["cost"] = self._amount(row, values, "cost")
        if "weight_grams" in self.headers:
            fields["weight_grams"] = self._int(row, values, "weight_grams", "whole grams")
        policy = values.get("inventory_policy", "").strip().lower()
        if policy:
            fields["inventory_policy"] = policy
        self._refuse_unsupported(row, values, gift_card=gift_card)
        line.inventory_qty = self._int(row, values, "inventory_qty", "a whole quantity")
        if "bundle_components" in self.headers:
            try:
                line.bundle = parse_components(values.get("bundle_components", ""))
            except ValidationError as exc:
                self.error(row, "bundle_components", exc.message)

    def _refuse_unsupported(
        self, row: int, values: dict[str, str], *, gift_card: bool = False
    ) -> None:
        """A variant the shop could not sell as the file means it is refused at its row, not
        imported with the difference silently dropped. A gift card is untaxed and not shipped
        anyway (commerce/giftcards), so it may say so."""
        if not gift_card and values.get("taxable", "").strip().lower() in _FALSE:
            self.error(
                row,
                "taxable",
                "Untaxed items are not supported: every item is taxed by the shop's tax rates. "
                "Set it to TRUE or leave the variant out.",
            )
        if not gift_card and values.get("requires_shipping", "").strip().lower() in _FALSE:
            self.error(
                row,
                "requires_shipping",
                "Items that do not ship are not supported: every item is shipped. Set it to "
                "TRUE or leave the variant out.",
            )

    def _add_images(self, plan: ProductPlan, row: int, values: dict[str, str]) -> None:
        """The product's images in file order. A variant's image may be named before its own
        Image Src row: that row then completes the same image (alt, position), never a
        second copy of it (which moved the image on every re-import)."""
        src = values.get("image_src", "").strip()
        position = self._int(row, values, "image_position", "a position number")
        if src:
            alt = values.get("image_alt") if "image_alt" in self.headers else None
            alt = alt.strip() if alt else alt
            early = next((i for i in plan.images if i.src == src and i.from_variant), None)
            if early is not None:
                early.alt, early.position, early.from_variant = alt, position, False
            else:
                plan.images.append(ImageLine(row, src, alt, position))
        variant_image = values.get("variant_image", "").strip()
        if variant_image and plan.variants and plan.variants[-1].row == row:
            plan.variants[-1].image_src = variant_image
        if variant_image and variant_image not in {i.src for i in plan.images}:
            plan.images.append(ImageLine(row, variant_image, None, None, from_variant=True))

    def finish(self, notes: list[str]) -> ParsedFile:
        return ParsedFile(
            format=self.fmt,
            headers=self.headers,
            products=list(self.plans.values()),
            errors=sorted(self.errors, key=lambda e: e.row),
            notes=notes,
            rows=self.rows,
        )
