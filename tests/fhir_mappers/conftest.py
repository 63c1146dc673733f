from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
AS_OF = dt.date(2026, 11, 27)


@pytest.fixture
def fixture():
    def load(name: str):
        return json.loads((FIXTURES / f"{name}.json").read_text("utf-8"))
    return load
