"""Roles and the permission each console action needs.

A permission names one kind of action; a role is a set of permissions. Views declare the
permission they need and the server checks it on every request.
"""

from __future__ import annotations

ADMIN, MERCHANDISER, WAREHOUSE, SUPPORT = "admin", "merchandiser", "warehouse", "support"
ROLES: tuple[str, ...] = (ADMIN, MERCHANDISER, WAREHOUSE, SUPPORT)
ROLE_LABELS = {
    ADMIN: "Admin",
    MERCHANDISER: "Merchandiser",
    WAREHOUSE: "Warehouse",
    SUPPORT: "Support",
}

# Every permission the platform knows, with what it allows.
PERMISSIONS: dict[str, str] = {
    "dashboard.view": "See the console dashboard and own background jobs",
    "catalog.view": "Look up products, variants, categories and collections",
    "catalog.edit": "Create and change products, variants, media, categories and collections",
    "catalog.bulk_edit": "Run bulk actions over many products",
    "catalog.import": "Import products from CSV",
    "catalog.export": "Export products to CSV",
    "inventory.view": "See stock levels, movements, holds and transfers",
    "inventory.edit": "Receive, adjust, count and transfer stock",
    "orders.view": "Find and read orders, customers and their documents",
    "orders.edit": "Add notes and comments, edit orders before fulfillment, cancel orders",
    "orders.fulfill": "Pick, pack and ship orders",
    "orders.refund": "Refund orders up to the approval limit and handle returns",
    "orders.refund_approve": "Approve or reject refunds above the approval limit",
    "orders.export": "Export orders and customers (personal data) to CSV",
    "orders.drafts": "Create draft orders for customers (phone and email orders), hold their "
    "stock and send their invoices with a pay link",
    "orders.mark_paid": "Mark a draft order as paid when the money came another way (bank "
    "transfer, cash): it becomes a paid order",
    "payments.manage": "See payments that need a person, capture authorized payments by hand "
    "and run the payment recovery",
    "giftcards.view": "See gift cards, their ledgers and customers' store credit, and export "
    "the gift card list",
    "giftcards.manage": "Issue, adjust and deactivate gift cards and adjust store credit",
    "promotions.view": "See promotions, their codes, usage and the simulator",
    "promotions.edit": "Create, change, pause, end and duplicate promotions and their codes",
    "search.view": "See search settings, query rules, previews and search analytics",
    "search.edit": "Change synonyms, stop words, typo tolerance and query rules",
    "reports.view": "See sales, product, promotion, refund and stock reports and export them",
    "audit.view": "Read the audit log",
    "staff.manage": "Create, invite, change and deactivate staff accounts",
    "settings.manage": "Configure shop settings: shipping methods and tax rates",
}

# Each permission in a few plain words, as the staff screens show it (the keys are for code).
PERMISSION_LABELS: dict[str, str] = {
    "dashboard.view": "Dashboard",
    "catalog.view": "View the catalog",
    "catalog.edit": "Edit products and collections",
    "catalog.bulk_edit": "Bulk edit products",
    "catalog.import": "Import products",
    "catalog.export": "Export products",
    "inventory.view": "View stock",
    "inventory.edit": "Receive, adjust and move stock",
    "orders.view": "View orders and customers",
    "orders.edit": "Edit and cancel orders",
    "orders.fulfill": "Ship orders",
    "orders.refund": "Refunds and returns",
    "orders.refund_approve": "Approve large refunds",
    "orders.export": "Export orders and customers",
    "orders.drafts": "Draft orders and invoices",
    "orders.mark_paid": "Mark draft orders as paid",
    "payments.manage": "Payments needing attention",
    "giftcards.view": "View gift cards and store credit",
    "giftcards.manage": "Issue and adjust gift cards and store credit",
    "promotions.view": "View promotions",
    "promotions.edit": "Edit promotions and codes",
    "search.view": "View search settings and analytics",
    "search.edit": "Edit search settings and rules",
    "reports.view": "Reports",
    "audit.view": "Read the audit log",
    "staff.manage": "Manage staff",
    "settings.manage": "Shop settings (shipping, tax)",
}


def role_abilities(role: str) -> list[tuple[str, str]]:
    """What a role may do, in words: (label, description) in the order of PERMISSIONS."""
    granted = ROLE_PERMISSIONS.get(role, frozenset())
    return [(PERMISSION_LABELS[key], PERMISSIONS[key]) for key in PERMISSIONS if key in granted]


_CATALOG_WRITE = {"catalog.edit", "catalog.bulk_edit", "catalog.import", "catalog.export"}

ROLE_PERMISSIONS: dict[str, frozenset[str]] = {
    ADMIN: frozenset(PERMISSIONS),
    MERCHANDISER: frozenset(
        {
            "dashboard.view",
            "catalog.view",
            "inventory.view",
            *_CATALOG_WRITE,
            "promotions.view",
            "promotions.edit",
            "search.view",
            "search.edit",
            "reports.view",  # who sells the catalogue reads what sold
        }
    ),
    WAREHOUSE: frozenset(
        {
            "dashboard.view",
            "catalog.view",
            "inventory.view",
            "inventory.edit",
            "orders.view",
            "orders.fulfill",
        }
    ),
    SUPPORT: frozenset(
        {
            "dashboard.view",
            "catalog.view",
            "inventory.view",
            "orders.view",
            "orders.edit",
            "orders.refund",
            "orders.export",
            "orders.drafts",
            "payments.manage",
            "giftcards.view",
            "giftcards.manage",
        }
    ),
}


def role_allows(role: str, permission: str) -> bool:
    if permission not in PERMISSIONS:
        raise KeyError(f"unknown permission {permission!r}")
    return permission in ROLE_PERMISSIONS.get(role, frozenset())


# API token scopes: what a token may do, each standing for the console permissions that
# guard the same actions (a token acts through the same services as the console).
SCOPES: dict[str, tuple[str, tuple[str, ...]]] = {
    "products:read": (
        "Read products, variants, media, categories and collections",
        ("catalog.view",),
    ),
    "products:write": (
        "Create and change products, variants, media, categories and collections",
        ("catalog.edit",),
    ),
    "inventory:read": ("Read locations, stock levels and movements", ("inventory.view",)),
    "inventory:write": ("Receive, adjust and transfer stock", ("inventory.edit",)),
    "orders:read": ("Read orders and returns", ("orders.view",)),
    "orders:write": ("Fulfil and cancel orders", ("orders.fulfill", "orders.edit")),
    "orders:refund": (
        "Refund orders, open and receive returns (above the approval limit a refund waits "
        "for an admin)",
        ("orders.refund",),
    ),
    "customers:read": ("Read customers", ("orders.view",)),
    "promotions:read": ("Read promotions and their coupon codes", ("promotions.view",)),
    "promotions:write": ("Add and generate coupon codes", ("promotions.edit",)),
}


def scopes_allowed(role: str) -> list[str]:
    """The scopes a member of `role` may put on a token: those whose permissions the role has
    (nobody hands out more than they hold)."""
    held = ROLE_PERMISSIONS.get(role, frozenset())
    return [scope for scope, (_label, perms) in SCOPES.items() if set(perms) <= held]
