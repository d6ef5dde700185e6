"""Resident registration numbers (주민등록번호): format, century digit, date, check digit."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from credential_schemas import (
    ClaimsError,
    RegistryErrorCode,
    birth_date_from_rrn,
    check_birth_date_matches_rrn,
    validate_rrn,
)
from credential_schemas.rrn import CHECK_DIGIT_CUTOFF

# An independent reference for the test, written from the published rule rather than
# imported from the code under test.
WEIGHTS = (2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5)


def remainder(twelve: str) -> int:
    return sum(w * int(d) for w, d in zip(WEIGHTS, twelve, strict=True)) % 11


def with_check_digit(front: str, back_six: str) -> str:
    return f"{front}-{back_six}{(11 - remainder(front + back_six)) % 10}"


def gender_digit(born: date, *, female: bool, foreigner: bool) -> str:
    base = {1800: 9, 1900: 1, 2000: 3}[born.year // 100 * 100]
    if foreigner and born.year >= 1900:
        base += 4
    return str((base + female) % 10)  # 1800s: 9 male, 0 female


def make_rrn(
    born: date, *, female: bool = False, foreigner: bool = False, serial: str = "01234"
) -> str:
    front = born.strftime("%y%m%d")
    return with_check_digit(front, gender_digit(born, female=female, foreigner=foreigner) + serial)


VALID = [
    pytest.param(make_rrn(date(1985, 3, 15)), date(1985, 3, 15), id="1900s-male"),
    pytest.param(make_rrn(date(1970, 12, 31), female=True), date(1970, 12, 31), id="1900s-female"),
    pytest.param(make_rrn(date(2001, 7, 9), female=True), date(2001, 7, 9), id="2000s-female"),
    pytest.param(make_rrn(date(2000, 2, 29)), date(2000, 2, 29), id="2000-leap-day"),
    pytest.param(make_rrn(date(1899, 1, 2)), date(1899, 1, 2), id="1800s-male"),
    pytest.param(
        make_rrn(date(1990, 6, 1), foreigner=True), date(1990, 6, 1), id="foreigner-1900s"
    ),
    pytest.param(
        make_rrn(date(2005, 5, 5), foreigner=True, female=True),
        date(2005, 5, 5),
        id="foreigner-2000s",
    ),
    pytest.param(make_rrn(date(2020, 10, 4)), date(2020, 10, 4), id="day-before-cutoff"),
]


@pytest.mark.parametrize(("rrn", "born"), VALID)
def test_valid_numbers_are_accepted(rrn: str, born: date) -> None:
    validate_rrn(rrn)
    assert birth_date_from_rrn(rrn) == born


@pytest.mark.parametrize("last_digit", range(10))
def test_numbers_assigned_since_october_2020_have_no_check_digit(last_digit: int) -> None:
    # Born on the cutoff day or later: the trailing digits are random, any last digit goes.
    for front in ("201005-3", "210302-4", "230101-7"):
        rrn = f"{front}73159{last_digit}"
        validate_rrn(rrn)
    assert birth_date_from_rrn(f"201005-373159{last_digit}") == CHECK_DIGIT_CUTOFF


def test_check_digit_still_applies_the_day_before_the_cutoff() -> None:
    rrn = make_rrn(date(2020, 10, 4))
    wrong = rrn[:-1] + str((int(rrn[-1]) + 1) % 10)
    with pytest.raises(ClaimsError) as caught:
        validate_rrn(wrong)
    assert caught.value.code is RegistryErrorCode.INVALID_RRN


FULLWIDTH = {ord(d): ord(d) + 0xFEE0 for d in "0123456789"}
ARABIC_INDIC = {ord(d): 0x0660 + int(d) for d in "0123456789"}
INVALID = [
    pytest.param("850315-1012349", "wrong check digit", id="wrong-check-digit"),
    pytest.param("850315-2012348", "wrong check digit", id="gender-digit-changed"),
    pytest.param("990230-1012345", "does not exist", id="30-february"),
    pytest.param("991301-1012345", "does not exist", id="month-13"),
    pytest.param("990100-1012345", "does not exist", id="day-0"),
    # 1900 was not a leap year, 2000 was: the century digit decides.
    pytest.param("000229-1012345", "does not exist", id="1900-02-29"),
    pytest.param("010229-3012345", "does not exist", id="2001-02-29"),
    pytest.param("8503151012348", "form", id="no-hyphen"),
    pytest.param("850315 1012348", "form", id="space-for-hyphen"),
    pytest.param("850315-1012348\n", "form", id="trailing-newline"),
    pytest.param(" 850315-1012348", "form", id="leading-space"),
    pytest.param("850315-X012348", "form", id="letter-gender-digit"),
    # \d would take these: fullwidth and Arabic-Indic digits.
    pytest.param("850315-1012348".translate(FULLWIDTH), "form", id="fullwidth-digits"),
    pytest.param("850315-1012348".translate(ARABIC_INDIC), "form", id="arabic-indic-digits"),
    pytest.param("85031-51012348", "form", id="hyphen-misplaced"),
    pytest.param("", "form", id="empty"),
]


@pytest.mark.parametrize(("rrn", "reason"), INVALID)
def test_invalid_numbers_are_refused(rrn: str, reason: str) -> None:
    with pytest.raises(ClaimsError) as caught:
        validate_rrn(rrn)
    assert caught.value.code is RegistryErrorCode.INVALID_RRN
    assert reason in caught.value.detail
    # The detail goes to logs: it must never repeat the number.
    if rrn:
        assert rrn not in caught.value.detail


def test_a_non_string_is_refused() -> None:
    with pytest.raises(ClaimsError) as caught:
        validate_rrn(8503151012348)  # type: ignore[arg-type]
    assert caught.value.code is RegistryErrorCode.INVALID_RRN


def test_a_gender_digit_that_moves_the_birth_into_the_future_is_refused_given_today() -> None:
    # 3 makes 1985 into 2085: after the cutoff, so no check digit can catch it ...
    rrn = "850315-3012348"
    assert birth_date_from_rrn(rrn) == date(2085, 3, 15)
    # ... but the clock can, when the caller has one.
    with pytest.raises(ClaimsError) as caught:
        validate_rrn(rrn, today=date(2026, 1, 1))
    assert caught.value.code is RegistryErrorCode.INVALID_RRN
    assert "future" in caught.value.detail
    validate_rrn(make_rrn(date(2026, 1, 1)), today=date(2026, 1, 1))


def test_birth_date_must_agree_with_the_number() -> None:
    rrn = make_rrn(date(1985, 3, 15))
    check_birth_date_matches_rrn("1985-03-15", rrn)
    check_birth_date_matches_rrn(date(1985, 3, 15), rrn)
    for wrong in ("1985-03-16", "2085-03-15", "19850315", date(1985, 3, 16)):
        with pytest.raises(ClaimsError) as caught:
            check_birth_date_matches_rrn(wrong, rrn)
        assert caught.value.code is RegistryErrorCode.INCONSISTENT_CLAIMS


def test_birth_date_check_reports_an_invalid_number_as_such() -> None:
    with pytest.raises(ClaimsError) as caught:
        check_birth_date_matches_rrn("1985-03-15", "850315-1012349")
    assert caught.value.code is RegistryErrorCode.INVALID_RRN


@st.composite
def checked_rrns(draw: st.DrawFn) -> str:
    """Valid numbers of people born before the cutoff, so carrying a real check digit."""
    born = draw(st.dates(min_value=date(1800, 1, 1), max_value=CHECK_DIGIT_CUTOFF.replace(day=4)))
    female, foreigner = draw(st.booleans()), draw(st.booleans())
    serial = draw(st.text(alphabet="0123456789", min_size=5, max_size=5))
    return make_rrn(born, female=female, foreigner=foreigner and born.year >= 1900, serial=serial)


@settings(database=None, max_examples=400)  # no .hypothesis directory in the repository
@given(checked_rrns(), st.integers(min_value=0, max_value=12), st.integers(1, 9))
def test_one_changed_digit_is_caught_except_in_the_known_blind_spots(
    rrn: str, position: int, delta: int
) -> None:
    validate_rrn(rrn)
    digits = rrn.replace("-", "")
    new_digit = str((int(digits[position]) + delta) % 10)
    changed_digits = digits[:position] + new_digit + digits[position + 1 :]
    changed = f"{changed_digits[:6]}-{changed_digits[6:]}"
    try:
        born = birth_date_from_rrn(changed)
    except ClaimsError as error:
        assert error.code is RegistryErrorCode.INVALID_RRN
        return
    # Accepted anyway: only two ways that can happen.
    # 1. The change moved the birth date on or after 2020-10-05 (e.g. century digit 1 -> 3),
    #    where numbers carry no check digit.
    # 2. The scheme's own collision: weighted sums ≡ 0 and ≡ 10 (mod 11) both give check
    #    digit 1, so a change between those two remainders goes unseen.
    collision = {remainder(digits[:12]), remainder(changed_digits[:12])} == {0, 10}
    assert born >= CHECK_DIGIT_CUTOFF or collision


def test_the_remainder_collision_is_real() -> None:
    """Blind spot 2 above, with a concrete pair: one digit apart, both accepted."""
    # The last serial digit has weight 5, and 5 * 2 ≡ 10 (mod 11): adding 2 to it moves a
    # weighted sum from remainder 0 to remainder 10, and both remainders give check digit 1.
    serial = next(
        f"{n:05d}" for n in range(100_000) if remainder(f"8503151{n:05d}") == 0 and n % 10 <= 7
    )
    bumped = serial[:4] + str(int(serial[4]) + 2)
    first, second = f"850315-1{serial}1", f"850315-1{bumped}1"
    validate_rrn(first)
    validate_rrn(second)
    assert sum(a != b for a, b in zip(first, second, strict=True)) == 1


def test_sex_must_agree_with_the_registration_number() -> None:
    from credential_schemas import Registry
    from credential_schemas.errors import ClaimsError, RegistryErrorCode

    resident = Registry.load().get("resident_register_extract")
    claims = dict(resident.examples[0])
    assert claims["resident_registration_number"][7] == "1"  # a man born in the 1900s
    resident.validate(claims)
    with pytest.raises(ClaimsError) as caught:
        resident.validate({**claims, "sex": "female"})
    assert caught.value.code == RegistryErrorCode.INCONSISTENT_CLAIMS
    with pytest.raises(ClaimsError) as caught:
        resident.validate_disclosed(
            {
                "sex": "female",
                "resident_registration_number": claims["resident_registration_number"],
            }
        )
    assert caught.value.code == RegistryErrorCode.INCONSISTENT_CLAIMS
