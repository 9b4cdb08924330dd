"""SMS text rules: carrier counting (GSM-7 / UCS-2), real splits, signature, unsubscribe."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gridserve.sms.text import (
    GSM_BASIC,
    GSM_EXTENSION,
    encoding,
    measure,
    split,
    units,
    with_signature,
    with_unsubscribe,
)

# The leading group's mandated text (规定内容), verbatim from DOMAIN.md.
MANDATED = (
    "服务实体经济,助力小微企业,实现银企共赢发展。——达州银行业小微企业金融服务宣传月活动领导小组宣"
)
GRIN = "\U0001f600"  # 😀, outside the BMP: a surrogate pair in UTF-16


def test_mandated_text_counts_as_one_ucs2_message():
    # By hand: 服务实体经济 6 + "," 1 + 助力小微企业 6 + "," 1 + 实现银企共赢发展 8 + "。" 1
    # + "——" 2 + 达州银行业小微企业金融服务宣传月活动领导小组宣 23 = 48 characters, all in
    # the BMP → 48 UTF-16 units ≤ 70 → one segment.
    assert measure(MANDATED) == {
        "encoding": "UCS-2",
        "characters": 48,
        "units": 48,
        "segments": 1,
        "per_segment": 70,
    }
    assert split(MANDATED) == [MANDATED]


def test_mandated_text_with_signature_and_unsubscribe():
    text = with_unsubscribe(with_signature(MANDATED, "达州银行"))
    assert text == f"【达州银行】{MANDATED}回T退订"
    # 【达州银行】 6 + 48 + 回T退订 4 = 58 units: still one message.
    assert measure(text)["characters"] == 58
    assert measure(text)["units"] == 58
    assert measure(text)["segments"] == 1


def test_long_chinese_text_is_split_in_parts_of_67():
    text = MANDATED * 2  # 96 units > 70 → 67 + 29
    assert measure(text) == {
        "encoding": "UCS-2",
        "characters": 96,
        "units": 96,
        "segments": 2,
        "per_segment": 67,
    }
    assert [len(p) for p in split(text)] == [67, 29]
    assert "".join(split(text)) == text
    assert [len(p) for p in split(MANDATED * 3)] == [67, 67, 10]


def test_chinese_70_vs_71_characters():
    assert measure("中" * 70)["segments"] == 1
    assert measure("中" * 71)["segments"] == 2
    assert [len(p) for p in split("中" * 71)] == [67, 4]


def test_ascii_160_vs_161_characters():
    assert measure("a" * 160) == {
        "encoding": "GSM-7",
        "characters": 160,
        "units": 160,
        "segments": 1,
        "per_segment": 160,
    }
    assert measure("a" * 161) == {
        "encoding": "GSM-7",
        "characters": 161,
        "units": 161,
        "segments": 2,
        "per_segment": 153,
    }
    assert [len(p) for p in split("a" * 161)] == [153, 8]
    assert [len(p) for p in split("a" * 306)] == [153, 153]
    assert [len(p) for p in split("a" * 307)] == [153, 153, 1]


def test_empty_text():
    assert measure("") == {
        "encoding": "GSM-7",
        "characters": 0,
        "units": 0,
        "segments": 0,
        "per_segment": 160,
    }
    assert split("") == []


def test_extension_characters_count_two_septets():
    assert encoding("Hello {world}") == "GSM-7"
    assert units("Hello {world}") == 15  # 13 characters, { and } cost 2 each
    for ch in "^{}\\[~]|€\f":
        assert encoding(ch) == "GSM-7"
        assert units(ch) == 2
    assert measure("€" * 80)["units"] == 160
    assert measure("€" * 80)["segments"] == 1
    assert measure("€" * 80 + "a")["segments"] == 2


def test_escape_sequence_is_never_split():
    # 152 septets of "a", then "€" (2 septets) would make 154 > 153: it starts part 2.
    text = "a" * 152 + "€" + "b" * 10
    parts = split(text)
    assert parts == ["a" * 152, "€" + "b" * 10]
    # 153 × "€" = 306 septets: a division says 2 parts, the real split needs 3 (76 + 76 + 1).
    assert [len(p) for p in split("€" * 153)] == [76, 76, 1]
    assert measure("€" * 153)["segments"] == 3


def test_gsm_alphabet_vs_ucs2():
    assert encoding("Prêt à 50 € — ok") == "UCS-2"  # ê and the em dash are not GSM
    assert encoding("Café £5 @ 8:00, Ünïon?") == "UCS-2"  # ï is not GSM
    assert encoding("Café £5 @ 8:00, Üñion¿ ΔΩ") == "GSM-7"
    assert encoding("达州") == "UCS-2"
    assert encoding("\x1b") == "UCS-2"  # the escape itself is not a character
    assert encoding("line\nbreak\r") == "GSM-7"
    assert encoding("tab\t") == "UCS-2"
    assert len(GSM_BASIC) == 127 and len(GSM_EXTENSION) == 10


def test_emoji_counts_two_utf16_units():
    assert measure(GRIN) == {
        "encoding": "UCS-2",
        "characters": 1,
        "units": 2,
        "segments": 1,
        "per_segment": 70,
    }
    assert measure("hi " + GRIN)["units"] == 5
    assert measure(GRIN * 35)["segments"] == 1  # 70 units
    assert measure(GRIN * 36)["segments"] == 2  # 72 units: 33 emoji (66) + 3


def test_surrogate_pair_is_never_split():
    # 67 emoji = 134 units: a division says 2 parts of 67, but a pair cannot straddle
    # parts, so each part holds 33 emoji (66 units) → 3 parts.
    parts = split(GRIN * 67)
    assert [len(p) for p in parts] == [33, 33, 1]
    assert measure(GRIN * 67)["segments"] == 3
    text = "a" * 66 + GRIN + "a" * 10
    assert split(text) == ["a" * 66, GRIN + "a" * 10]


@given(st.text(alphabet=st.sampled_from(["a", "€", "中", GRIN, "{", " "]), max_size=400))
def test_split_properties(text):
    parts = split(text)
    info = measure(text)
    assert "".join(parts) == text
    assert info["segments"] == len(parts)
    gsm = info["encoding"] == "GSM-7"
    single, per_part = (160, 153) if gsm else (70, 67)

    def cost(part: str) -> int:
        if gsm:
            return sum(2 if ch in GSM_EXTENSION else 1 for ch in part)
        return len(part.encode("utf-16-le")) // 2

    assert info["units"] == cost(text)
    for i, part in enumerate(parts):
        assert 0 < cost(part) <= (single if len(parts) == 1 else per_part)
        if i + 1 < len(parts):  # a part is only closed when the next character does not fit
            assert cost(part) + cost(parts[i + 1][0]) > per_part


# -- signature ------------------------------------------------------------------------------


def test_signature_is_prefixed():
    assert with_signature("感谢支持。", "达州银行") == "【达州银行】感谢支持。"
    assert with_signature("感谢支持。", "  达州银行 ") == "【达州银行】感谢支持。"


def test_existing_signature_is_kept():
    assert with_signature("【工商银行】感谢支持。", "达州银行") == "【工商银行】感谢支持。"


@pytest.mark.parametrize("bad", ["", "   ", "【达州银行", "达州】", "一二三四五六七八九十一二三"])
def test_bad_signature_is_refused(bad):
    with pytest.raises(ValueError):
        with_signature("感谢支持。", bad)


def test_twelve_character_signature_is_fine():
    assert with_signature("x", "一二三四五六七八九十一二") == "【一二三四五六七八九十一二】x"


# -- unsubscribe ----------------------------------------------------------------------------


def test_unsubscribe_suffix_appended_without_separator_to_chinese():
    text = "服务实体经济,助力小微企业,实现银企共赢发展。"
    assert with_unsubscribe(text) == "服务实体经济,助力小微企业,实现银企共赢发展。回T退订"


def test_unsubscribe_suffix_appended_once():
    once = with_unsubscribe(MANDATED)
    assert once == MANDATED + "回T退订"
    assert with_unsubscribe(once) == once
    assert with_unsubscribe(once + " ") == once + " "


def test_unsubscribe_custom_suffix_and_latin_text():
    assert with_unsubscribe("感谢支持。", "拒收请回复R") == "感谢支持。拒收请回复R"
    assert with_unsubscribe("Loans for SMEs.") == "Loans for SMEs. 回T退订"
    assert with_unsubscribe("Loans for SMEs. ") == "Loans for SMEs. 回T退订"
    assert with_unsubscribe("") == "回T退订"
    with pytest.raises(ValueError):
        with_unsubscribe("感谢支持。", "  ")
