"""Purchasing: suppliers, purchase orders, receiving against them, incoming stock and reorder
suggestions. Above inventory and catalog (it books receipts through inventory's ledger) and
above documents (the purchase order PDF uses its renderer)."""
