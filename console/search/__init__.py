"""Search: settings, synonyms, query rules and analytics.

The area's URLs (below /console), the view answering each and the permission it needs."""

from console.permissions import Route
from console.search import analytics, rules, settings

ROUTES = [
    # settings
    Route("/search", settings.search_home, "search.view"),
    Route("/search/synonyms", settings.search_synonyms, "search.view"),
    Route(
        "/search/synonyms/new", settings.search_synonym_new, "search.edit", methods=["GET", "POST"]
    ),
    Route("/search/synonyms/<int:synonym_id>", settings.search_synonym_detail, "search.view"),
    Route(
        "/search/synonyms/<int:synonym_id>",
        settings.search_synonym_save,
        "search.edit",
        methods=["POST"],
        endpoint="search_synonym_save",
    ),
    Route(
        "/search/synonyms/<int:synonym_id>/delete",
        settings.search_synonym_delete,
        "search.edit",
        methods=["POST"],
    ),
    Route("/search/settings", settings.search_settings, "search.view"),
    Route(
        "/search/settings",
        settings.search_settings_save,
        "search.edit",
        methods=["POST"],
        endpoint="search_settings_save",
    ),
    Route("/search/push", settings.search_push, "search.edit", methods=["POST"]),
    # rules
    Route("/search/rules", rules.search_rules, "search.view"),
    Route("/search/rules/new", rules.search_rule_new, "search.edit", methods=["GET", "POST"]),
    Route("/search/rules/<int:rule_id>", rules.search_rule_detail, "search.view"),
    Route(
        "/search/rules/<int:rule_id>",
        rules.search_rule_save,
        "search.edit",
        methods=["POST"],
        endpoint="search_rule_save",
    ),
    Route(
        "/search/rules/<int:rule_id>/enabled",
        rules.search_rule_enabled,
        "search.edit",
        methods=["POST"],
    ),
    Route(
        "/search/rules/<int:rule_id>/delete",
        rules.search_rule_delete,
        "search.edit",
        methods=["POST"],
    ),
    Route("/search/rules/boosts", rules.search_rule_boosts, "search.edit", methods=["POST"]),
    Route("/search/rules/preview", rules.search_rule_preview, "search.view", methods=["POST"]),
    Route("/search/rules/pick", rules.search_rule_pick, "search.view"),
    Route("/search/rules/pick/chip", rules.search_rule_chip, "search.view"),
    # analytics
    Route("/search/analytics", analytics.search_analytics, "search.view"),
]
