"""Feedback parsing and its durable store, kept importable here; the code lives in
``cds_service.storage.feedback``."""

from cds_service.storage.feedback import (
    MAX_COMMENT_CHARS,
    MAX_ENTRIES,
    MAX_SUGGESTIONS,
    TABLE,
    FeedbackEntry,
    FeedbackStore,
    OverrideReason,
    ReportRow,
    open_store,
    parse_feedback,
)

__all__ = [
    "MAX_COMMENT_CHARS",
    "MAX_ENTRIES",
    "MAX_SUGGESTIONS",
    "TABLE",
    "FeedbackEntry",
    "FeedbackStore",
    "OverrideReason",
    "ReportRow",
    "open_store",
    "parse_feedback",
]
