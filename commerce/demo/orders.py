"""Demo orders: a month of trade in the back office, placed and worked through the real services.

Shoppers fill carts and check out like anyone in the storefront (cart, information, shipping
method, a test-gateway card); then the demo staff work the orders with the services the console
calls: the warehouse packs and ships parcels with tracking numbers, support writes notes,
refunds, cancels, and asks for one refund above REFUND_APPROVAL_LIMIT that waits for the admin;
a customer opens a return. Nothing is inserted by hand, so stock ledger, allocations, payments,
credit notes, emails, timeline and audit log agree the way they would in a real shop.

The services stamp everything "now". To spread the story over the last 30 days, one demo-only
step at the end (`_backdate_for_demo`) moves each demo order's own timestamps (placed_at, its
timeline, parcels, refunds and returns) to the moments its story gives them; the stock ledger,
payments, documents and the audit log keep the real time of the load.

Two shoppers have accounts with several orders each (password `demo-customer-2026`, for local
use only).
"""

from __future__ import annotations

import random
import unicodedata
from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from commerce.catalog.models import ACTIVE, Product, Variant
from commerce.checkout.cart import add_to_cart, customer_cart, remove_from_cart
from commerce.checkout.models import Checkout
from commerce.checkout.services import (
    choose_shipping_method,
    place_order,
    price_checkout,
    save_information,
    start_checkout,
)
from commerce.customers.models import Customer
from commerce.customers.services import add_address, find_customer_by_email, register_customer
from commerce.db import transaction, utcnow, workflow
from commerce.errors import CommerceError
from commerce.extensions import db
from commerce.inventory.services import availability, release_reservation
from commerce.orders.cancellation import cancel_order
from commerce.orders.fulfillment import (
    create_fulfillment,
    get_fulfillment,
    pickable,
    ship_fulfillment,
)
from commerce.orders.models import (
    CANCELLED,
    FULFILLED,
    OPEN,
    PARTIALLY_FULFILLED,
    PICKING,
    REFUND_AWAITING_APPROVAL,
    REFUND_SUCCEEDED,
    RETURN_OPEN,
    UNFULFILLED,
    Order,
    Refund,
    Return,
)
from commerce.orders.queries import shop_day_start, shop_today
from commerce.orders.refunds import issue_refund, quote_refund, shipping_paid
from commerce.orders.returns import open_return
from commerce.orders.services import add_note
from commerce.outbox import dispatch_pending
from commerce.shipping.services import shipping_options
from commerce.staff.models import StaffMember

if TYPE_CHECKING:
    from commerce.demo import Progress

CUSTOMER_PASSWORD = "demo-customer-2026"
DAYS = 30  # how far back the story goes
POOL_SIZE = 400  # variants considered: enough variety, one availability query

# -- who buys -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shopper:
    name: str
    country: str
    region: str
    city: str
    postal_code: str
    line1: str
    line2: str = ""
    domain: str = "example.com"

    @property
    def email(self) -> str:
        plain = unicodedata.normalize("NFKD", self.name).encode("ascii", "ignore").decode()
        return f"{'.'.join(plain.lower().split())}@{self.domain}"

    def address(self) -> dict[str, str]:
        return {
            "name": self.name,
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": self.country,
            "phone": "",
        }


# Made-up people at made-up street numbers, in the countries the demo shipping covers
# (commerce/demo/settings.py); postal codes in each country's real format.
SHOPPERS = (
    Shopper("Maya Chen", "US", "CA", "San Francisco", "94110", "2318 Mission Street"),
    Shopper("Jordan Ellis", "US", "NY", "Brooklyn", "11215", "418 7th Avenue", "Apt 3R"),
    Shopper("Rosa Delgado", "US", "TX", "Austin", "78704", "1507 South Congress Avenue"),
    Shopper("Ethan Walker", "US", "WA", "Seattle", "98103", "3611 Fremont Avenue N"),
    Shopper(
        "Grace Kim", "US", "CA", "Los Angeles", "90026", "1845 Echo Park Avenue", "", "mail.test"
    ),
    Shopper("Marcus Johnson", "US", "IL", "Chicago", "60614", "2210 N Clark Street"),
    Shopper("Hannah Schultz", "US", "OR", "Portland", "97214", "1120 SE Hawthorne Boulevard"),
    Shopper("Daniel Okafor", "US", "MA", "Boston", "02118", "77 Tremont Street", "Unit 4"),
    Shopper("Olivia Martinez", "US", "CO", "Denver", "80205", "2901 Larimer Street"),
    Shopper("Noah Patel", "US", "NY", "New York", "10025", "251 W 98th Street", "Apt 5B"),
    Shopper(
        "Ava Thompson", "US", "TX", "Houston", "77006", "1402 Westheimer Road", "", "example.net"
    ),
    Shopper("Lucas Rivera", "US", "FL", "Miami", "33137", "3650 N Miami Avenue"),
    Shopper("Chloe Bennett", "US", "WA", "Spokane", "99201", "812 W Riverside Avenue"),
    Shopper("Samuel Brooks", "US", "GA", "Atlanta", "30307", "1039 Euclid Avenue NE"),
    Shopper("Isabella Moore", "US", "CA", "San Diego", "92104", "3025 University Avenue"),
    Shopper(
        "Wyatt Foster", "US", "MN", "Minneapolis", "55408", "2920 Hennepin Avenue", "", "inbox.test"
    ),
    Shopper("Emily Tremblay", "CA", "QC", "Montréal", "H2T 1S6", "4521 Rue Saint-Denis"),
    Shopper("Liam MacDonald", "CA", "ON", "Toronto", "M6J 1H4", "912 Queen Street West"),
    Shopper(
        "Aisha Rahman", "CA", "BC", "Vancouver", "V5T 3G2", "2450 Main Street", "", "example.org"
    ),
    Shopper("Owen Campbell", "CA", "AB", "Calgary", "T2S 0L9", "1811 4 Street SW"),
    Shopper("Oliver Hughes", "GB", "", "London", "E8 3RL", "42 Mare Street", "", "example.org"),
    Shopper("Amelia Clarke", "GB", "", "Manchester", "M4 1HN", "17 Oldham Street"),
    Shopper("Fiona Stewart", "GB", "", "Edinburgh", "EH6 6QU", "8 Shore Place"),
    Shopper("Ciara Byrne", "IE", "", "Dublin", "D08 X2A3", "23 Thomas Street"),
    Shopper("Jonas Müller", "DE", "", "Berlin", "10437", "Kastanienallee 12", "", "mail.test"),
    Shopper("Lena Schmidt", "DE", "", "Hamburg", "20359", "Paul-Roosen-Straße 5"),
    Shopper("Felix Gruber", "AT", "", "Wien", "1070", "Neubaugasse 25"),
    Shopper("Camille Laurent", "FR", "", "Paris", "75011", "18 Rue Oberkampf"),
    Shopper("Hugo Moreau", "FR", "", "Lyon", "69001", "9 Rue de la République", "", "example.net"),
    Shopper("Sanne de Vries", "NL", "", "Amsterdam", "1015 CJ", "Prinsengracht 210"),
    Shopper("Louis Peeters", "BE", "", "Gent", "9000", "Veldstraat 44"),
    Shopper("Lucía García", "ES", "", "Madrid", "28004", "Calle de Fuencarral 78"),
    Shopper("Giulia Romano", "IT", "", "Milano", "20121", "Via Solferino 14"),
    Shopper("Mads Jensen", "DK", "", "København N", "2200", "Jægersborggade 31"),
    Shopper("Elsa Lindqvist", "SE", "", "Stockholm", "118 20", "Hornsgatan 56"),
    Shopper("Charlotte Nguyen", "AU", "NSW", "Surry Hills", "2010", "120 Crown Street"),
    Shopper("Jack Wilson", "AU", "VIC", "Fitzroy", "3065", "88 Brunswick Street"),
    Shopper("Aroha Parata", "NZ", "", "Wellington", "6011", "55 Cuba Street"),
    Shopper("Yuki Tanaka", "JP", "Tokyo", "Shibuya-ku", "150-0001", "3-14-5 Jingumae"),
)
# Shoppers with an account, and how many orders each places (at most).
REGULARS = {"Maya Chen": 3, "Oliver Hughes": 3}
# The home market buys most; the rest of the world now and then.
COUNTRY_WEIGHT = {"US": 4.0, "CA": 1.5}

# Test-gateway cards that succeed (any Luhn-valid number but the documented failures does).
CARDS = (
    {"number": "4242424242424242", "cvc": "123"},  # Visa
    {"number": "5555555555554444", "cvc": "321"},  # Mastercard
    {"number": "378282246310005", "cvc": "4321"},  # American Express
)

# -- what happens to each order -----------------------------------------------------------------

WAITING = "waiting"  # placed, not shipped yet
PACKING = "packing"  # the warehouse is picking it
SHIPPED = "shipped"
PART_SHIPPED = "part_shipped"  # one parcel left, the rest still waits
REFUND_ITEM = "refund_item"  # shipped; one damaged unit refunded, the customer keeps it
REFUND_SHIPPING = "refund_shipping"  # shipped late; shipping (or a goodwill amount) refunded
REFUND_UNSHIPPED = "refund_unshipped"  # one unit dropped before dispatch; it is not shipped
BIG_REFUND = "big_refund"  # shipped, arrived crushed; the refund waits for the admin
CANCELLED_STORY = "cancelled"
RETURN_STORY = "return"  # shipped; the customer opened a return
# Every demo shows each flow once (the small ones too), on orders old enough for the story.
SPECIAL = (
    BIG_REFUND,
    CANCELLED_STORY,
    RETURN_STORY,
    REFUND_ITEM,
    PART_SHIPPED,
    REFUND_SHIPPING,
    REFUND_UNSHIPPED,
    PART_SHIPPED,
)

NOTES = (
    "Customer called to check the delivery date; told them three to five working days.",
    "Gift order: asked for no prices in the parcel. Packing slip only.",
    "Repeat customer. Warehouse, please add a handwritten thank-you card.",
    "Confirmed the address by phone: the buzzer is broken, leave it with the concierge.",
    "Asked whether the colour runs in the wash; sent the care guide by email.",
    "Customer asked us to combine this with their next order if it ships within two days.",
)
COMMENTS = (
    "Thanks for your order! We upgraded your parcel to tracked delivery at no extra cost.",
    "Good news: your order is packed and leaves our warehouse tomorrow morning.",
)
ITEM_REASONS = (
    "One unit arrived chipped; the customer sent a photo and keeps it.",
    "Scuffed on arrival. Customer is happy to keep it with a refund for that unit.",
    "Colour differs from the product photos; customer keeps it, refund agreed by phone.",
)


@dataclass
class Plan:
    placed: datetime
    days_ago: int
    shopper: Shopper
    story: str = WAITING
    customer: Customer | None = None
    note: str | None = None
    comment: str | None = None


@dataclass
class Candidate:
    """A sellable variant, with the units this load has not bought yet."""

    variant_id: int
    price: int
    weight: int
    left: int


@dataclass
class StoryClock:
    """Demo-only: which real moment of this load stands for which moment of an order's story.

    Each step of an order is recorded as (real start, story moment); a timestamp the services
    wrote during that step maps to the story moment plus however long after the start it was
    written, so the seconds between a parcel and its email survive the move."""

    marks: dict[int, list[tuple[datetime, datetime]]] = field(
        default_factory=lambda: defaultdict(list)
    )

    def record(self, order_id: int, started: datetime, story: datetime) -> None:
        self.marks[order_id].append((started, story))

    def story_time(self, order_id: int, moment: datetime | None) -> datetime | None:
        marks = self.marks.get(order_id)
        if moment is None or not marks:
            return moment
        index = max(bisect_right([real for real, _ in marks], moment) - 1, 0)
        real, story = marks[index]
        return story + (moment - real)


class DemoShop:
    """One demo load's state: the variant pool, the staff, the clock and the rng."""

    def __init__(self, rng: random.Random, now: datetime, say: Progress) -> None:
        self.rng = rng
        self.now = now
        self.say = say
        self.clock = StoryClock()
        self.limit = int(current_app.config["REFUND_APPROVAL_LIMIT"])
        self.staff = _demo_staff()
        self.pool = _variant_pool(rng)

    # -- time ---------------------------------------------------------------------------------

    def later(self, after: datetime, low_hours: float, high_hours: float) -> datetime:
        """A moment `low..high` hours after `after`, never in the future."""
        moment = after + timedelta(hours=self.rng.uniform(low_hours, high_hours))
        return max(min(moment, self.now - timedelta(minutes=1)), after + timedelta(seconds=30))

    def step(self, order: Order, story: datetime, action: Callable[[], Any]) -> None:
        """Run one follow-up of `order` as of `story`; a refusal is reported, not raised."""
        started = utcnow()
        try:
            action()
        except CommerceError as exc:
            self.say(f"  {order.name}: {exc.message}")
        deliver_outbox()
        self.clock.record(order.id, started, story)

    # -- carts --------------------------------------------------------------------------------

    def cart_for(self, plan: Plan) -> list[tuple[int, int]]:
        """(variant id, quantity) lines that fit the plan's story and can ship to its country."""
        rng = self.rng
        country = plan.shopper.country
        if plan.story == BIG_REFUND:
            # Dear items, so refunding them all is above the approval limit.
            pool = sorted(self.pool, key=lambda c: -c.price)[:40]
            goal, lines_wanted = self.limit * 5 // 4, 3
        else:
            pool = self.pool
            goal, lines_wanted = None, rng.choices((1, 2, 3), weights=(55, 30, 15))[0]
            if plan.story in (PART_SHIPPED, REFUND_ITEM, REFUND_UNSHIPPED):
                lines_wanted = max(lines_wanted, 2)
            if plan.story in (REFUND_ITEM, REFUND_UNSHIPPED):
                # A unit (with its tax) that support may refund without an approval.
                pool = [c for c in pool if c.price <= self.limit // 2] or pool
            if plan.story == CANCELLED_STORY:
                # A small order: cancelling refunds it in full, within support's own limit.
                pool = [c for c in pool if c.price <= self.limit // 4] or pool
                lines_wanted = 1
        lines: list[tuple[int, int]] = []
        subtotal = weight = 0
        for _ in range(60):
            if len(lines) >= lines_wanted or (goal is not None and subtotal >= goal):
                break
            candidate = rng.choice(pool)
            if candidate.left < 1 or any(v == candidate.variant_id for v, _ in lines):
                continue
            if goal:
                quantity = 3
            elif candidate.price > 10000:  # one cashmere sweater, three pairs of socks
                quantity = rng.choices((1, 2), weights=(90, 10))[0]
            else:
                quantity = rng.choices((1, 2, 3), weights=(65, 25, 10))[0]
            quantity = min(quantity, candidate.left)
            if plan.story == CANCELLED_STORY:
                quantity = 1
            new_weight = weight + candidate.weight * quantity
            new_subtotal = subtotal + candidate.price * quantity
            if not shipping_options(country, new_weight, new_subtotal):
                continue  # too heavy for every method that serves the country
            lines.append((candidate.variant_id, quantity))
            candidate.left -= quantity
            subtotal, weight = new_subtotal, new_weight
        return lines

    # -- placing ------------------------------------------------------------------------------

    def place(self, plan: Plan) -> Order | None:
        """Check out like a shopper: cart, information, a shipping method, a card."""
        lines = self.cart_for(plan)
        if not lines:
            self.say(f"  Nothing left in stock to sell to {plan.shopper.name}.")
            return None
        customer = plan.customer
        started = utcnow()
        cart = customer_cart(customer.id) if customer is not None else None
        checkout = None
        try:
            for variant_id, quantity in lines:
                cart = add_to_cart(
                    cart,
                    variant_id=variant_id,
                    quantity=quantity,
                    customer_id=customer.id if customer is not None else None,
                )
            assert cart is not None
            checkout = start_checkout(cart, customer=customer)
            save_information(checkout, email=plan.shopper.email, address=plan.shopper.address())
            choose_shipping_method(checkout, code=self.shipping_code(plan, checkout))
            month, year = self.rng.randint(1, 12), plan.placed.year + self.rng.randint(1, 4)
            card = {**self.rng.choice(CARDS), "exp_month": str(month), "exp_year": str(year)}
            order = place_order(checkout.key, card=card).order
        except CommerceError as exc:
            self.say(f"  An order for {plan.shopper.name} was not placed: {exc.message}")
            if checkout is not None:
                release_reservation(checkout.reference)
            if cart is not None:  # a regular's saved cart must not carry it into the next order
                for variant_id, _quantity in lines:
                    remove_from_cart(cart, variant_id=variant_id)
            return None
        if order is None:  # a card asking for confirmation: none of the demo's cards do
            return None
        deliver_outbox()
        self.clock.record(order.id, started, plan.placed)
        return order

    def shipping_code(self, plan: Plan, checkout: Checkout) -> str:
        """Mostly the first method (in the shop's order: standard) that serves the cart,
        sometimes another (express)."""
        priced = price_checkout(checkout)
        weight = sum(line.weight_grams for line in priced.lines)  # each line's whole weight
        options = shipping_options(plan.shopper.country, weight, priced.totals.subtotal)
        codes = [method.code for method, _ in options] or [""]
        if len(codes) > 1 and self.rng.random() < 0.2:
            return self.rng.choice(codes[1:])
        return codes[0]

    # -- the staff's work ---------------------------------------------------------------------

    def pick(self, order: Order, *, partial: bool = False) -> None:
        """The warehouse starts a parcel at each location the units wait at; with `partial`,
        only the first line's units at the first location (the rest follows later)."""
        order = _fresh(order.id)
        for location_id, picks in pickable(order).items():
            lines = None
            if partial:
                first = picks[0]
                several = len(order.lines) > 1
                lines = {first.order_line_id: first.quantity if several else first.quantity - 1}
            create_fulfillment(
                order, location_id=location_id, lines=lines, by=self.staff["warehouse"]
            )
            if partial:
                break

    def ship_parcels(self, order: Order) -> None:
        """Every parcel being picked leaves, with a carrier and a tracking number."""
        order = _fresh(order.id)
        country = order.shipping_address.get("country")
        for parcel_id in [f.id for f in order.fulfillments if f.status == PICKING]:
            carrier, number = tracking_number(self.rng, country)
            ship_fulfillment(
                get_fulfillment(parcel_id),
                carrier=carrier,
                tracking_number=number,
                by=self.staff["warehouse"],
            )

    def refund_item(self, order: Order) -> None:
        order = _fresh(order.id)
        line = min(order.lines, key=lambda ln: ln.unit_price)
        quote = quote_refund(order, lines={line.id: 1})
        if quote.needs_approval:
            self.refund_goodwill(order, reason="Goodwill: one unit arrived damaged.")
            return
        issue_refund(
            order,
            lines={line.id: 1},
            reason=self.rng.choice(ITEM_REASONS),
            idempotency_key=f"demo-{order.reference}-item",
            by=self.staff["support"],
        )

    def refund_shipping(self, order: Order) -> None:
        order = _fresh(order.id)
        shipping = shipping_paid(order)
        if shipping > 0:
            issue_refund(
                order,
                lines={},
                shipping_amount=shipping,
                reason="Parcel arrived a week late; shipping refunded.",
                idempotency_key=f"demo-{order.reference}-shipping",
                by=self.staff["support"],
            )
        else:
            self.refund_goodwill(order, reason="Goodwill credit: the parcel arrived late.")

    def refund_goodwill(self, order: Order, *, reason: str) -> None:
        amount = min(1000, order.paid_total - order.refunded_total, self.limit)
        if amount > 0:
            issue_refund(
                order,
                lines={},
                extra_amount=amount,
                reason=reason,
                idempotency_key=f"demo-{order.reference}-goodwill",
                by=self.staff["support"],
            )

    def refund_unshipped(self, order: Order) -> None:
        """One unit dropped before dispatch: the refund releases it from the allocation."""
        order = _fresh(order.id)
        if order.paid_total <= 0:  # PAYMENTS_CAPTURE=fulfillment: nothing taken yet
            self.say(f"  {order.name}: nothing captured before shipping, so nothing to refund.")
            return
        # One unit of the biggest line that support may refund on their own.
        for line in sorted(order.lines, key=lambda ln: (-ln.quantity, ln.unit_price)):
            if quote_refund(order, lines={line.id: 1}).needs_approval:
                continue
            issue_refund(
                order,
                lines={line.id: 1},
                reason="Customer asked to drop one unit before dispatch.",
                idempotency_key=f"demo-{order.reference}-drop",
                by=self.staff["support"],
            )
            return
        self.say(f"  {order.name}: no unit is within the refund approval limit; not refunded.")

    def big_refund(self, order: Order) -> None:
        """Everything arrived crushed: support asks for a refund of every item, which is above
        the approval limit, so it waits in the admin's queue."""
        order = _fresh(order.id)
        issue_refund(
            order,
            lines={line.id: line.refundable_quantity for line in order.lines},
            reason="Parcel arrived crushed; every item damaged (photos in the support inbox).",
            idempotency_key=f"demo-{order.reference}-damaged",
            by=self.staff["support"],
        )

    def cancel(self, order: Order) -> None:
        cancel_order(
            _fresh(order.id),
            reason="Customer ordered the wrong size and asked to cancel before dispatch.",
            by=self.staff["support"],
        )

    def open_return(self, order: Order) -> None:
        """The customer asks to send one unit back from the order status page."""
        order = _fresh(order.id)
        line = order.lines[0]
        open_return(
            order,
            lines={line.id: 1},
            reason="It doesn't fit; I'd like to send it back for a refund.",
            by_customer=True,
        )

    def note(self, order: Order, text: str, *, customer_visible: bool = False) -> None:
        add_note(
            _fresh(order.id),
            text=text,
            by=self.staff["support"],
            customer_visible=customer_visible,
        )

    # -- one order's story --------------------------------------------------------------------

    def run(self, plan: Plan) -> Order | None:
        order = self.place(plan)
        if order is None:
            return None
        t0 = plan.placed
        steps: list[tuple[datetime, Callable[[], Any]]] = []
        picked_at = self.later(t0, 1, 20)
        shipped_at = self.later(picked_at, 0.5, 6)
        story = plan.story
        if story in (SHIPPED, REFUND_ITEM, REFUND_SHIPPING, BIG_REFUND, RETURN_STORY, PACKING):
            steps.append((picked_at, lambda: self.pick(order)))
            if story != PACKING:
                steps.append((shipped_at, lambda: self.ship_parcels(order)))
        if story == PART_SHIPPED:
            steps.append((picked_at, lambda: self.pick(order, partial=True)))
            steps.append((shipped_at, lambda: self.ship_parcels(order)))
            steps.append(
                (
                    self.later(shipped_at, 0.1, 0.5),
                    lambda: self.note(
                        order,
                        "The rest of your order ships separately from our downtown store in "
                        "a few days; you will get a second tracking number.",
                        customer_visible=True,
                    ),
                )
            )
        after = self.later(shipped_at, 30, 150)
        if story == REFUND_ITEM:
            steps.append((after, lambda: self.refund_item(order)))
        elif story == REFUND_SHIPPING:
            steps.append((after, lambda: self.refund_shipping(order)))
        elif story == BIG_REFUND:
            steps.append((after, lambda: self.big_refund(order)))
            steps.append(
                (
                    self.later(after, 0.05, 0.3),
                    lambda: self.note(
                        order, "Refund is above my limit: waiting for an admin to approve it."
                    ),
                )
            )
        elif story == RETURN_STORY:
            opened = self.later(shipped_at, 72, 200)
            steps.append((opened, lambda: self.open_return(order)))
            steps.append(
                (
                    self.later(opened, 0.5, 5),
                    lambda: self.note(order, "Emailed the customer a prepaid return label."),
                )
            )
        elif story == REFUND_UNSHIPPED:
            steps.append((self.later(t0, 1, 10), lambda: self.refund_unshipped(order)))
        elif story == CANCELLED_STORY:
            steps.append((self.later(t0, 0.5, 8), lambda: self.cancel(order)))
        if plan.note:
            text = plan.note
            steps.append((self.later(t0, 0.2, 6), lambda: self.note(order, text)))
        if plan.comment:
            text_c = plan.comment
            steps.append(
                (
                    self.later(t0, 0.2, 6),
                    lambda: self.note(order, text_c, customer_visible=True),
                )
            )
        for story_time, action in sorted(steps, key=lambda s: s[0]):
            self.step(order, story_time, action)
        return order


def tracking_number(rng: random.Random, country: str | None) -> tuple[str, str]:
    """A carrier that serves the country and a number in that carrier's usual shape."""

    def digits(n: int) -> str:
        return "".join(rng.choices("0123456789", k=n))

    def letters(n: int) -> str:
        return "".join(rng.choices("ABCDEFGHJKLMNPRSTUVWXYZ", k=n))

    if country == "US":
        carrier = rng.choice(("UPS", "USPS", "FedEx"))
        if carrier == "UPS":
            return carrier, f"1Z{letters(3)}{digits(3)}03{digits(8)}"
        if carrier == "USPS":
            return carrier, f"9400{digits(18)}"
        return carrier, digits(12)
    if country == "CA":
        return "Canada Post", digits(16)
    if country == "GB":
        return "Royal Mail", f"{letters(2)}{digits(9)}GB"
    if country == "AU":
        return "Australia Post", f"{letters(2)}{digits(9)}AU"
    if country == "JP":
        return "Japan Post", f"EJ{digits(9)}JP"
    return "DHL Express", digits(10)


# -- the load -----------------------------------------------------------------------------------


@workflow
def load_demo_orders(rng: random.Random, *, count: int = 40, say: Progress) -> dict[str, int]:
    """Place `count` demo orders through the checkout and work them through the order services.

    Call it outside any transaction (after the catalog has committed): checkout and payments
    commit their own steps. Returns counts of what the orders became.
    """
    if count <= 0:
        return {"orders": 0}
    now = utcnow()
    shop = DemoShop(rng, now, say)
    if not shop.pool:
        say("No active variant is in stock: no demo orders.")
        return {"orders": 0}
    say(f"Orders ({count}) through the checkout, then shipping, refunds and returns...")
    plans = _plan(rng, count, now)
    regulars = _ensure_regulars(plans)
    placed: list[Order] = []
    for plan in plans:
        order = shop.run(plan)
        if order is not None:
            placed.append(order)
    _backdate_for_demo(shop.clock, regulars, rng)
    summary = _summary([order.id for order in placed], regulars)
    say(
        f"{summary['orders']} orders over the last {DAYS} days ({summary['today']} today): "
        f"{summary['waiting']} waiting to ship, {summary['shipped']} shipped, "
        f"{summary['part_shipped']} partly shipped, {summary['refunds']} refunds "
        f"({summary['awaiting_approval']} awaiting approval), {summary['cancelled']} cancelled, "
        f"{summary['returns']} open return(s)."
    )
    if regulars:
        emails = ", ".join(customer.email for customer in regulars)
        say(f"Shopper accounts with order history: {emails} / {CUSTOMER_PASSWORD}")
    return summary


def deliver_outbox() -> None:
    """Hand the outbox to its consumers now, as a running shop's beat would: emails as .eml
    files under MAIL_DIR (or over SMTP), credit notes. A consumer that fails leaves its event
    pending for the next dispatch; the load carries on. With a real broker, the beat's
    periodic dispatch does it instead (a broker that is down must not stall the load)."""
    if current_app.config["CELERY"].get("task_always_eager"):
        dispatch_pending()


def _fresh(order_id: int) -> Order:
    """The order as committed, lines included (the services commit behind the session)."""
    db.session.expire_all()
    order = db.session.get(Order, order_id)
    assert order is not None
    return order


def _demo_staff() -> dict[str, StaffMember | None]:
    """The demo account of each role, if it still has that role (else the system acts)."""
    from commerce.demo import DEMO_STAFF  # the package imports this module: import at call time
    from commerce.staff.services import find_staff_by_email

    staff: dict[str, StaffMember | None] = {}
    for role, (email, _password, _name) in DEMO_STAFF.items():
        member = find_staff_by_email(email)
        staff[role] = member if member is not None and member.role == role else None
    return staff


def _variant_pool(rng: random.Random) -> list[Candidate]:
    """A sample of active products' variants with at least three units to sell."""
    ids = list(
        db.session.scalars(
            select(Variant.id)
            .join(Product, Product.id == Variant.product_id)
            .where(Product.status == ACTIVE)
            .order_by(Variant.id)
        )
    )
    sample = rng.sample(ids, min(POOL_SIZE, len(ids)))
    stock = availability(sample)
    rows = db.session.execute(
        select(Variant.id, Variant.price, Variant.weight_grams).where(Variant.id.in_(sample))
    ).all()
    return [
        Candidate(variant_id, price, weight or 0, stock[variant_id].available)
        for variant_id, price, weight in sorted(rows)
        if variant_id in stock and stock[variant_id].available >= 3
    ]


def _plan(rng: random.Random, count: int, now: datetime) -> list[Plan]:
    """When each order is placed (oldest first, several today), by whom, and its story."""
    today = shop_today(now)
    today_start = shop_day_start(today)
    todays = max(1, round(count * 0.15))
    moments: list[tuple[datetime, int]] = []
    for _ in range(count):
        if len(moments) < todays:
            span = max(now - timedelta(minutes=2) - today_start, timedelta(0))
            moments.append((today_start + span * rng.random(), 0))
            continue
        days_ago = 1 + int((DAYS - 1) * rng.random() ** 1.3)  # busier lately
        start = shop_day_start(today - timedelta(days=days_ago))
        moments.append((start + timedelta(seconds=rng.randint(7 * 3600, 23 * 3600)), days_ago))
    moments.sort()
    countries = [s for s in SHOPPERS if shipping_options(s.country, 0, 0)]
    weights = [COUNTRY_WEIGHT.get(s.country, 1.0) for s in countries]
    plans = [
        Plan(placed, days_ago, rng.choices(countries, weights=weights)[0])
        for placed, days_ago in moments
    ]
    # The special stories go to orders two days old or more, the oldest first.
    older = [i for i, plan in enumerate(plans) if plan.days_ago >= 2]
    rng.shuffle(older)
    older.sort(key=lambda i: plans[i].days_ago < 5)
    specials = min(len(SPECIAL), len(older) - len(older) // 4)
    domestic = [s for s in countries if s.country == "US"] or countries
    for story, index in zip(SPECIAL[:specials], older, strict=False):
        plans[index].story = story
        if story == BIG_REFUND:  # a big parcel: flat-rate shipping carries any weight
            plans[index].shopper = rng.choice(domestic)
    for plan in plans:
        if plan.story == WAITING and plan.days_ago:
            ship_chance = 0.7 if plan.days_ago >= 3 else 0.35
            plan.story = SHIPPED if rng.random() < ship_chance else WAITING
        if plan.story == WAITING and plan.days_ago <= 1 and rng.random() < 0.25:
            plan.story = PACKING
        if rng.random() < 0.12:
            plan.note = rng.choice(NOTES)
        elif rng.random() < 0.05:
            plan.comment = rng.choice(COMMENTS)
    # The regulars buy the plain orders (their address is fixed; the special carts may be
    # too heavy for it), spread over the month.
    plain = [i for i, plan in enumerate(plans) if plan.story in (WAITING, PACKING, SHIPPED)]
    by_name = {s.name: s for s in countries}
    for name, orders in REGULARS.items():
        shopper = by_name.get(name)
        take = min(orders, len(plain) // 2)
        if shopper is None or take < 2:
            continue
        for index in rng.sample(plain, take):
            plans[index].shopper = shopper
            plain.remove(index)
    return plans


def _ensure_regulars(plans: list[Plan]) -> list[Customer]:
    """Accounts (with an address book) for the regulars the plan gives orders to."""
    customers: dict[str, Customer] = {}
    for plan in plans:
        if plan.shopper.name not in REGULARS:
            continue
        customer = customers.get(plan.shopper.name)
        if customer is None:
            customer = find_customer_by_email(plan.shopper.email)
            if customer is None:
                customer = register_customer(
                    email=plan.shopper.email, password=CUSTOMER_PASSWORD, name=plan.shopper.name
                )
                add_address(customer, **plan.shopper.address())
            customers[plan.shopper.name] = customer
        plan.customer = customer
    return list(customers.values())


def _backdate_for_demo(clock: StoryClock, regulars: list[Customer], rng: random.Random) -> None:
    """DEMO ONLY: move each demo order's own timestamps from the time of this load to its story.

    The services stamp "now" and are never changed for the demo; this one step afterwards
    rewrites placed_at and the order's timeline, parcels, refunds and returns (each by the
    step it was written in, see StoryClock), and the regulars' sign-up dates. Stock movements,
    payments, documents and the audit log keep the real time of the load.
    """
    if not clock.marks:
        return
    with transaction():
        orders = db.session.scalars(
            select(Order)
            .where(Order.id.in_(list(clock.marks)))
            .options(
                selectinload(Order.events),
                selectinload(Order.fulfillments),
                selectinload(Order.refunds),
                selectinload(Order.returns),
            )
        ).all()
        for order in orders:

            def moved(moment: datetime | None, order_id: int = order.id) -> datetime | None:
                return clock.story_time(order_id, moment)

            order.placed_at = moved(order.placed_at)
            order.cancelled_at = moved(order.cancelled_at)
            order.updated_at = moved(order.updated_at)
            for event in order.events:
                event.created_at = moved(event.created_at)
            for parcel in order.fulfillments:
                parcel.created_at = moved(parcel.created_at)
                parcel.shipped_at = moved(parcel.shipped_at)
            for refund in order.refunds:
                refund.created_at = moved(refund.created_at)
                refund.approved_at = moved(refund.approved_at)
                refund.completed_at = moved(refund.completed_at)
            for order_return in order.returns:
                order_return.created_at = moved(order_return.created_at)
                order_return.received_at = moved(order_return.received_at)
        for customer in regulars:
            placed = [o.placed_at for o in orders if o.customer_id == customer.id]
            if placed:
                customer.created_at = min(placed) - timedelta(days=rng.randint(20, 300))
                customer.last_sign_in_at = max(placed)


def _summary(order_ids: list[int], regulars: list[Customer]) -> dict[str, int]:
    """What the demo orders became, counted from the database."""
    if not order_ids:
        return {"orders": 0}
    rows = db.session.execute(
        select(Order.status, Order.fulfillment_status, Order.placed_at).where(
            Order.id.in_(order_ids)
        )
    ).all()
    today_start = shop_day_start(shop_today())
    refunds = Counter(
        db.session.scalars(select(Refund.status).where(Refund.order_id.in_(order_ids)))
    )
    returns = db.session.scalar(
        select(func.count(Return.id)).where(
            Return.order_id.in_(order_ids), Return.status == RETURN_OPEN
        )
    )
    return {
        "orders": len(rows),
        "today": sum(1 for *_, placed in rows if placed >= today_start),
        "waiting": sum(1 for s, f, _ in rows if s == OPEN and f == UNFULFILLED),
        "shipped": sum(1 for _, f, _ in rows if f == FULFILLED),
        "part_shipped": sum(1 for _, f, _ in rows if f == PARTIALLY_FULFILLED),
        "cancelled": sum(1 for s, *_ in rows if s == CANCELLED),
        "refunds": refunds[REFUND_SUCCEEDED],
        "awaiting_approval": refunds[REFUND_AWAITING_APPROVAL],
        "returns": int(returns or 0),
        "customers": len(regulars),
    }
