"""Gift cards and store credit: the list, a card's page with its ledger, issuing, adjusting,
deactivating, the CSV export, and a customer's store credit.

The area's URLs (below /console), the view answering each and the permission it needs."""

from console.giftcards import views
from console.permissions import Route

ROUTES = [
    # views
    Route("/gift-cards", views.gift_card_list, "giftcards.view"),
    Route("/gift-cards.csv", views.gift_card_export, "giftcards.view"),
    Route("/gift-cards/new", views.gift_card_new, "giftcards.manage", methods=["GET", "POST"]),
    Route("/gift-cards/<int:card_id>", views.gift_card_detail, "giftcards.view"),
    Route(
        "/gift-cards/<int:card_id>/adjust",
        views.gift_card_adjust,
        "giftcards.manage",
        methods=["POST"],
    ),
    Route(
        "/gift-cards/<int:card_id>/deactivate",
        views.gift_card_deactivate,
        "giftcards.manage",
        methods=["POST"],
    ),
    Route(
        "/customers/<int:customer_id>/store-credit",
        views.store_credit,
        "giftcards.view",
        endpoint="store_credit",
    ),
    Route(
        "/customers/<int:customer_id>/store-credit/adjust",
        views.store_credit_adjust,
        "giftcards.manage",
        methods=["POST"],
    ),
]
