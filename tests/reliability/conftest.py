"""Shared set-up for the reliability tests."""

from __future__ import annotations

import warnings
from contextlib import suppress

# When a Hypothesis test fails, its pytest plugin imports hypothesis.extra._patching to offer a
# patch; that import (through libcst) raises a DeprecationWarning for mypy_extensions.TypedDict,
# which `filterwarnings = error` turns into an INTERNALERROR hiding the falsifying example.
# Importing it once here, with that warning silenced, keeps a failure readable.
with warnings.catch_warnings(), suppress(ImportError):  # ImportError: a Hypothesis without it
    warnings.simplefilter("ignore", DeprecationWarning)
    import hypothesis.extra._patching  # noqa: F401
