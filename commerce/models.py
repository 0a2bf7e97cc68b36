"""Every package's tables, imported in one place for Alembic and the shell."""

from commerce.abandoned.models import CheckoutRecovery, RecoverySettings, RecoveryUnsubscribe
from commerce.accounts.models import (
    AuthSession,
    SignInThrottle,
    StaffRecoveryCode,
    StaffSecondFactor,
)
from commerce.audit import AuditEntry
from commerce.catalog.bulk_edit import BulkEditBatch, BulkEditChange
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
from commerce.drafts.models import DraftOrder
from commerce.giftcards.models import (
    GiftCard,
    GiftCardEntry,
    StoreCredit,
    StoreCreditEntry,
    Tender,
)
from commerce.inventory.count_session_models import CountSession, CountSessionLine
from commerce.inventory.models import Allocation, Location, Reservation, StockLevel, StockMovement
from commerce.inventory.transfer_models import (
    StockTransfer,
    StockTransferLine,
    StockTransferReceipt,
)
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
from commerce.purchasing.models import (
    PurchaseOrder,
    PurchaseOrderLine,
    PurchaseReceipt,
    PurchasingSettings,
    Supplier,
    SupplierVariant,
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
    "BulkEditBatch",
    "BulkEditChange",
    "BundleComponent",
    "Cart",
    "CartLine",
    "Category",
    "Checkout",
    "CheckoutRecovery",
    "Collection",
    "CollectionProduct",
    "CountSession",
    "CountSessionLine",
    "CouponCode",
    "CouponEntry",
    "Customer",
    "Document",
    "DocumentSequence",
    "DraftOrder",
    "Fulfillment",
    "FulfillmentLine",
    "GiftCard",
    "GiftCardEntry",
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
    "PurchaseOrder",
    "PurchaseOrderLine",
    "PurchaseReceipt",
    "PurchasingSettings",
    "RecoverySettings",
    "RecoveryUnsubscribe",
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
    "StockTransfer",
    "StockTransferLine",
    "StockTransferReceipt",
    "StoreCredit",
    "StoreCreditEntry",
    "Supplier",
    "SupplierVariant",
    "TaxRate",
    "Tender",
    "Variant",
    "WebhookDelivery",
    "WebhookEndpoint",
]
