"""The session cookie interface, aware of shared-cacheable responses."""

from __future__ import annotations

from typing import Any

from flask.sessions import SecureCookieSessionInterface


class CacheAwareSessionInterface(SecureCookieSessionInterface):
    """A response marked `shared_cacheable` is the same for everyone: it must neither set a
    cookie nor say `Vary: Cookie` (which would split shared caches per visitor), even though
    extensions such as Flask-Login read the session on every request."""

    def save_session(self, app: Any, session: Any, response: Any) -> None:
        if getattr(response, "shared_cacheable", False) and not session.modified:
            return
        super().save_session(app, session, response)
