"""The web dashboard at ``/ui/``: static pages in the package, and a session cookie for them.

The pages call the public API only. `SessionBridge` turns the dashboard's session cookie into the
``Authorization`` header its user logged in with, so every route checks it by its own rules.
"""

from __future__ import annotations

from gateway.ui.bridge import SESSION_COOKIE, UI_HEADER, SessionBridge
from gateway.ui.routes import UiRoutes
from gateway.ui.sessions import SessionStore

__all__ = ["SESSION_COOKIE", "UI_HEADER", "SessionBridge", "SessionStore", "UiRoutes"]
