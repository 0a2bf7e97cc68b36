"""The session cookie interface, aware of shared-cacheable responses."""

from __future__ import annotations

from typing import Any

from flask.sessions import SecureCookieSessionInterface


class CacheAwareSessionInterface(SecureCookieSessionInterface):
    """A response marked `shared_cacheable` is the same for everyone: it must neither set a
    cookie nor say `Vary: Cookie` (which would split shared caches per visitor), even though
    extensions such as Flask-Login read the session on every request.

    That holds even when the request changed the session: a shared cache would hand the
    Set-Cookie (a signed-in shopper's session) to everyone. Flask-Login's "strong" session
    protection does touch a session that holds only the shop's customer key; such changes are
    dropped here (with any other cookie) and redone on the next private response."""

    def save_session(self, app: Any, session: Any, response: Any) -> None:
        if getattr(response, "shared_cacheable", False):
            response.headers.pop("Set-Cookie", None)  # e.g. Flask-Login clearing remember-me
            return
        super().save_session(app, session, response)
