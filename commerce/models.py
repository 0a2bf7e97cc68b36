"""Every package's tables, imported in one place for Alembic and the shell."""

from commerce.accounts.models import (
    AuthSession,
    SignInThrottle,
    StaffRecoveryCode,
    StaffSecondFactor,
)
from commerce.audit import AuditEntry
from commerce.catalog.models import (
    BundleComponent,
    Category,
    Collection,
    CollectionProduct,
    Media,
    OptionType,
    Product,
    ProductTag,
    Variant,
)
from commerce.checkout.models import Cart, CartLine, Checkout
from commerce.customers.models import Address, Customer
from commerce.documents.models import Document, DocumentSequence
from commerce.inventory.models import Allocation, Location, Reservation, StockLevel, StockMovement
from commerce.jobs import Job
from commerce.orders.models import (
    Fulfillment,
    FulfillmentLine,
    Order,
    OrderEvent,
    OrderLine,
    Refund,
    RefundLine,
    Return,
    ReturnLine,
)
from commerce.outbox import OutboxEvent
from commerce.payments.models import Payment, PaymentEvent, PaymentTransaction
from commerce.promotions.models import (
    CouponCode,
    CouponEntry,
    Promotion,
    PromotionAction,
    PromotionCondition,
    PromotionRevision,
    PromotionUsage,
    Redemption,
)
from commerce.search.models import (
    SearchDocument,
    SearchFacet,
    SearchGeneration,
    SearchPending,
    SearchRule,
    SearchSettings,
    SearchSynonym,
    SearchTerm,
)
from commerce.shipping.models import ShippingMethod
from commerce.staff.models import ApiIdempotencyKey, ApiToken, SavedFilter, StaffMember
from commerce.tax.models import TaxRate
from commerce.webhooks.models import WebhookDelivery, WebhookEndpoint

__all__ = [
    "Address",
    "Allocation",
    "ApiIdempotencyKey",
    "ApiToken",
    "AuditEntry",
    "AuthSession",
    "BundleComponent",
    "Cart",
    "CartLine",
    "Category",
    "Checkout",
    "Collection",
    "CollectionProduct",
    "CouponCode",
    "CouponEntry",
    "Customer",
    "Document",
    "DocumentSequence",
    "Fulfillment",
    "FulfillmentLine",
    "Job",
    "Location",
    "Media",
    "OptionType",
    "Order",
    "OrderEvent",
    "OrderLine",
    "OutboxEvent",
    "Payment",
    "PaymentEvent",
    "PaymentTransaction",
    "Product",
    "ProductTag",
    "Promotion",
    "PromotionAction",
    "PromotionCondition",
    "PromotionRevision",
    "PromotionUsage",
    "Redemption",
    "Refund",
    "RefundLine",
    "Reservation",
    "Return",
    "ReturnLine",
    "SavedFilter",
    "SearchDocument",
    "SearchFacet",
    "SearchGeneration",
    "SearchPending",
    "SearchRule",
    "SearchSettings",
    "SearchSynonym",
    "SearchTerm",
    "ShippingMethod",
    "SignInThrottle",
    "StaffMember",
    "StaffRecoveryCode",
    "StaffSecondFactor",
    "StockLevel",
    "StockMovement",
    "TaxRate",
    "Variant",
    "WebhookDelivery",
    "WebhookEndpoint",
]
