"""The dosage reader keeps the numbers it has read; each still reads as its written decimal.

``dosage._num`` keeps the Fraction of each JSON number it has read (by value and type): it must
be ``Fraction(str(number))``, the reading it replaced, every time it is asked, for integers and
floats of any size (``2**60`` and ``2.0**60`` are equal numbers that read differently), and
refuse the same values as before.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fhir_mappers import dosage
from tests.reliability.support import FUZZ

NUMBERS = st.one_of(st.integers(), st.integers(min_value=-(2**70), max_value=2**70),
                    st.floats(allow_nan=False, allow_infinity=False),
                    st.sampled_from([0, 0.0, -0.0, 1, 1.0, 0.1, 2**60, 2.0**60, 1e16,
                                     10**16, 4.1e-05, 25, 25.0]))


@settings(FUZZ, max_examples=3000)
@given(number=NUMBERS)
def test_a_number_reads_as_its_written_decimal_each_time(number):
    expected = Fraction(str(number))
    for _ in range(2):
        found = dosage._num(number)
        assert found == expected
        assert type(found) is Fraction


def test_equal_numbers_of_another_type_read_as_their_own_decimal():
    assert dosage._num(2**60) == 2**60
    assert dosage._num(2.0**60) == Fraction(str(2.0**60)) != 2**60
    assert dosage._num(2**60) == 2**60


@pytest.mark.parametrize("value", [True, False, None, "5", [5], {"value": 5}])
def test_what_is_not_a_json_number_reads_as_none(value):
    assert dosage._num(value) is None


@pytest.mark.parametrize("value", [float("nan"), float("inf"), 10**5000],
                         ids=["nan", "inf", "5001 digits"])
def test_a_number_no_decimal_text_holds_is_refused_as_before(value):
    with pytest.raises(ValueError):  # noqa: PT011 - what Fraction(str(value)) raised
        Fraction(str(value))
    for _ in range(2):
        with pytest.raises(ValueError):  # noqa: PT011
            dosage._num(value)
