"""Patient.birthDate at the precision EHRs send it: a full date gives the age; a year or a
year and month leaves the ages the day could give (MM-T5-10/11, BLEED-04/11 read them band by
band), and says so."""

from __future__ import annotations

import datetime as dt

import pytest

from fhir_mappers.chart import map_chart

AS_OF = dt.date(2026, 12, 1)


def age(birth_date: str):
    patient = {"resourceType": "Patient", "id": "p", "gender": "male", "birthDate": birth_date}
    return map_chart([patient], as_of=AS_OF, patient_id="p").facts["age_years"]


@pytest.mark.parametrize(("birth_date", "years"), [
    ("1950-12-01", 76), ("1950-12-02", 75), ("1950-06", 76), ("1950-11", 76),
])
def test_a_birth_date_that_fixes_the_age_gives_it(birth_date, years):
    fact = age(birth_date)
    assert (fact.value, fact.possible) == (years, None)


@pytest.mark.parametrize(("birth_date", "possible"), [
    ("1950", (75, 76)),     # born 2-31 December: 75; earlier in 1950: 76
    ("1960", (65, 66)),
    ("1950-12", (75, 76)),  # born 1 December: 76 today; later that month: 75
])
def test_a_birth_year_or_month_alone_leaves_the_possible_ages_and_says_so(birth_date, possible):
    fact = age(birth_date)
    assert fact.value is None
    assert fact.possible == possible
    assert fact.evidence == ("Patient/p",)
    assert f"{possible[0]} to {possible[1]} years old on 2026-12-01" in (fact.reason or "")
