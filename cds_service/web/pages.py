"""Serving the service's own HTML pages with the same security headers everywhere."""

from __future__ import annotations

from flask import Blueprint, Response, send_from_directory

from cds_service.errors import NotFound

# No inline script, nothing from another origin, no framing.
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")


def static_page(bp: Blueprint, filename: str, csp: str = CSP) -> Response:
    """A page from the blueprint's static folder, never cached, with strict headers."""
    static = bp.static_folder
    if static is None:  # pragma: no cover - each page blueprint has its folder
        raise NotFound("this page is not installed")
    response = send_from_directory(static, filename, max_age=0)
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
