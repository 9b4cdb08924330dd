"""Recipient numbers (E.164, mobiles only) and opt-out replies."""

from __future__ import annotations

import pytest

from gridserve.sms.phones import RecipientFileError, is_opt_out, parse_csv, to_e164


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("13800138000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("008613800138000", "+8613800138000"),
        ("+852 5123 4567", "+85251234567"),
    ],
)
def test_numbers_are_normalised_to_e164(raw, e164):
    assert to_e164(raw) == e164


@pytest.mark.parametrize("raw", ["", "12345", "02812345678", "not a number", "1380013800"])
def test_numbers_that_cannot_get_a_text_are_refused(raw):
    with pytest.raises(ValueError):
        to_e164(raw)


def test_a_list_keeps_the_first_of_each_number_and_reports_the_rest():
    parsed = parse_csv("\ufeffMobile,Name\n13800138000,A\n138 0013 8000,B\nx,C\n13900139000,\n")
    assert parsed.recipients == [("+8613800138000", "A"), ("+8613900139000", None)]
    assert parsed.duplicates == 1 and parsed.received == 4
    assert parsed.rejected == [{"row": 3, "value": "x", "error": "Not a phone number."}]
    with pytest.raises(RecipientFileError):
        parse_csv("name\nA\n")


@pytest.mark.parametrize("reply", ["T", "td", " TD ", "退订", "STOP", "stop.", "0000", "TD工行"])
def test_opt_out_replies(reply):
    assert is_opt_out(reply, ("工行",))


@pytest.mark.parametrize("reply", ["", "谢谢", "TELL ME MORE", "好的T", "TD农行"])
def test_other_replies_are_not_opt_outs(reply):
    assert not is_opt_out(reply, ("工行",))
