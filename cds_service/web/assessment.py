"""The HTML page behind a card's "Full VTE assessment" link.

``response(document, lang)`` renders the assessment document (the JSON that ``Accept:
application/json`` gets, unchanged) as a page a clinician reads and prints: the text in one
language comes from `hooks.assessment_page`, the markup from ``templates/assessment.html`` and
the screen and print styles from ``static/assessment.css``. Nothing is recomputed here.

The page has no script and loads nothing from another origin (its Content-Security-Policy says
so). The link's token is in the URL, so the page is never cached and sends no referrer; it may
be framed, as an EHR may show a card's link inside its own window.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, render_template, url_for

from hooks.assessment_page import LANGS, page

CSP = ("default-src 'none'; style-src 'self'; img-src 'self' data:; base-uri 'none'; "
       "form-action 'none'")


def choose_lang(asked: str | None, negotiated: str) -> str:
    """``?lang=en|zh`` when given and known, otherwise the negotiated language."""
    return asked if asked in LANGS else negotiated


def response(document: Mapping[str, Any], lang: str) -> Response:
    view = page(document, lang)
    html = render_template("assessment.html", p=view, w=view.words,
                           stylesheet=url_for("ui.static", filename="assessment.css"))
    # JSON can carry a lone surrogate (in a resource id) that no UTF-8 page can: replaced
    html = html.encode("utf-8", "replace").decode("utf-8")
    out = Response(html, mimetype="text/html")
    out.headers["Content-Language"] = view.html_lang
    out.headers["Content-Security-Policy"] = CSP
    out.headers["Cache-Control"] = "no-store"
    out.headers["Referrer-Policy"] = "no-referrer"
    out.headers["X-Content-Type-Options"] = "nosniff"
    out.vary.update(("Accept", "Accept-Language"))
    return out
