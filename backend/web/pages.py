"""GET / — the chat page: plain HTML, CSS and JS served by Flask, no build step."""

from __future__ import annotations

from flask import Blueprint, render_template

from backend.web.schema import MAX_MESSAGE_CHARS
from backend.web.service import current_service

# Templates and static files come from the app's own backend/templates and backend/static.
pages = Blueprint("pages", __name__)


@pages.get("/")
def chat():
    service = current_service()
    replier = service.replier
    page_config = {
        "personas": list(replier.personas) if replier else [],
        "defaultPersona": replier.default_persona if replier else "",
        "model": replier.name if replier else "",
        "ready": service.ready,
        "notReadyReason": "" if service.ready else _not_ready_notice(service.not_ready_reason),
        "burstPauseMs": service.settings["burst_pause_ms"],
        "maxMessageChars": MAX_MESSAGE_CHARS,  # the API's limit, for the input and a burst
        "apiKeyRequired": bool(service.settings["api_key"]),
    }
    return render_template("chat.html", config=page_config)


def _not_ready_notice(reason: str) -> str:
    """The app loads its model before it serves anything, so a page without one means the
    load failed: waiting will not help. The reason is what /readyz already tells anyone."""
    return ("The model could not be loaded, so there will be no replies until the server is "
            f"restarted with a working one. Reason: {reason}")
