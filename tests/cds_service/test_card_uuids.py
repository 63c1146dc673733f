"""Card and suggestion uuids: stable name-based uuids (RFC 4122, SHA-1) that feedback names.

An EHR sends feedback by card uuid, and the uuid's last four hex digits say the card kind; a uuid
that changed for the same hook instance would orphan the feedback already stored.
"""

from __future__ import annotations

import random
import uuid

from hooks.base import CARD_KINDS, NAMESPACE, card_kind, card_uuid, suggestion_uuid

NAMES = ["", "bench-1", "d3c2a5f0-1b2c-4d5e-8f90-a1b2c3d4e5f6", "病例 42", "a|b|c", "\u2028",
         "x" * 300]


def _names() -> list[str]:
    rnd = random.Random(7)
    letters = "abcXYZ019|-_ é中文\u2028"
    return NAMES + ["".join(rnd.choice(letters) for _ in range(rnd.randint(0, 60)))
                    for _ in range(500)]


def test_a_card_uuid_is_the_uuid5_of_its_instance_and_kind_with_the_kind_number_last():
    for name in _names():
        for number, kind in enumerate(CARD_KINDS):
            base = uuid.uuid5(NAMESPACE, f"{name}|{kind}|part").hex
            expected = str(uuid.UUID(base[:-4] + f"{number:04x}"))
            found = card_uuid(kind, name, "part")
            assert found == expected
            assert card_kind(found) == kind


def test_a_suggestion_uuid_is_the_uuid5_of_its_card_and_label():
    for name in _names():
        assert suggestion_uuid("card", name) == str(uuid.uuid5(NAMESPACE, f"card|{name}"))
