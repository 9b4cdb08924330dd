"""Personal data shown to people who need less than all of it.

Every masker keeps just enough to recognise a record one already knows (the
prefix and last digits of a number, the family name) and hides the rest, one
``*`` per hidden character.
"""

from __future__ import annotations

# Two-character family names (复姓): their whole surname stays visible.
COMPOUND_SURNAMES = frozenset(
    {
        "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙",
        "宇文", "司徒", "司空", "夏侯", "令狐", "端木", "轩辕", "独孤", "南宫", "西门",
        "呼延", "申屠", "澹台", "公冶", "太史", "万俟", "闻人", "赫连", "钟离", "濮阳",
        "淳于", "单于", "百里", "东郭", "拓跋", "左丘", "第五", "谷梁", "宰父", "漆雕",
    }
)  # fmt: skip
# Kept as they are, so a masked name keeps its shape: spaces, the middle dot of
# transliterated names (阿依古丽·买买提), hyphens.
NAME_SEPARATORS = frozenset(" ·•‧-")


def mask_phone(phone: str | None) -> str | None:
    """'13812345678' → '138****5678'; short numbers keep only their last two digits."""
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) >= 11:
        return f"{digits[:-8]}****{digits[-4:]}"
    if len(digits) > 4:
        return "*" * (len(digits) - 2) + digits[-2:]
    return "*" * len(digits)


def mask_id_number(id_number: str | None) -> str | None:
    """'510104199001011234' → '510104********1234': the region code and the last four stay.

    The birth date and sequence (characters 7-14) are hidden. Anything shorter
    than an ID card number keeps only its last two characters.
    """
    if not id_number:
        return id_number
    value = id_number.strip()
    if len(value) >= 15:
        return f"{value[:6]}{'*' * (len(value) - 10)}{value[-4:]}"
    if len(value) > 4:
        return "*" * (len(value) - 2) + value[-2:]
    return "*" * len(value)


def _mask_word(word: str) -> str:
    if len(word) <= 1:
        return "*" * len(word)
    return word[0] + "*" * (len(word) - 1)


def mask_name(name: str | None) -> str | None:
    """'张三' → '张*', '欧阳娜娜' → '欧阳**', 'John Smith' → 'J*** S****'.

    A Chinese name keeps its family name (two characters for a compound
    surname, one otherwise); a name written in words keeps each word's first
    letter. Separators stay, every other character becomes ``*``.
    """
    if not name:
        return name
    value = name.strip()
    if any(ch in NAME_SEPARATORS for ch in value):
        out, word = [], []
        for ch in value:
            if ch in NAME_SEPARATORS:
                out.append(_mask_word("".join(word)))
                out.append(ch)
                word = []
            else:
                word.append(ch)
        out.append(_mask_word("".join(word)))
        return "".join(out)
    if len(value) <= 1:
        return "*" * len(value)
    keep = 2 if value[:2] in COMPOUND_SURNAMES and len(value) > 2 else 1
    return value[:keep] + "*" * (len(value) - keep)
