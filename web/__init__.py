"""What both web faces (console/ and storefront/) share: one way to answer a page or its
htmx fragment (`web.pages`), and one way to handle a posted form (`web.forms`).

It knows HTTP and forms, and of the domain only its errors; the domain core never imports it,
and it never imports a face (the import contracts in pyproject.toml)."""
