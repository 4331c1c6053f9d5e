"""Reading one value from a matched mention: numbers, sizes and units, dates, stages, regimens and word maps."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from mcrc.extract.rules import Rules, Value

_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
                                       "dec"), start=1)}


class Unreadable(Exception):
    """A value that cannot be read from this mention (no group matched, a map without the word)."""


def _group(m: re.Match[str], names: tuple[str, ...]) -> tuple[str, str]:
    for name in names:
        if m.group(name) is not None:
            return name, m.group(name)
    raise Unreadable


def _number(text: str) -> float:
    return float(text.replace(",", "."))


def _unit_of(m: re.Match[str], name: str, unit: str = "unit") -> str | None:
    suffix = re.sub(r"^[a-z]+", "", name)
    for candidate in (unit + suffix, unit):
        if candidate in m.re.groupindex and m.group(candidate):
            return m.group(candidate).lower()
    return None


def _date(text: str) -> str:
    text = text.strip().lower().rstrip(".")
    try:
        if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
            return dt.date.fromisoformat(text).isoformat()
        if m := re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", text):  # day/month/year, as the corpus's reports write it
            return dt.date(int(m.group(3)), int(m.group(2)), int(m.group(1))).isoformat()
        if m := re.match(r"^(\d{1,2})\s+([a-z]+)\.?\s+(\d{4})$", text):
            return dt.date(int(m.group(3)), _MONTHS[m.group(2)[:3]], int(m.group(1))).isoformat()
    except (ValueError, KeyError):
        raise Unreadable from None
    raise Unreadable


def _regimen(text: str, rules: Rules) -> str:
    key = re.sub(r"[\s+/–-]|plus|with|and", "", text.lower())
    key = re.sub(r"^mfolfox", "folfox", key)
    key = re.sub(r"^folfox[467]", "folfox", key)
    key = key.replace("bev", "bevacizumab", 1) if key.endswith("bev") else key
    key = key.replace("avastin", "bevacizumab")
    code = rules.maps["regimen"].get(key)
    if code is None:
        raise Unreadable
    return code


def read_value(v: Value, m: re.Match[str], rules: Rules) -> tuple[Any, bool]:
    """The value and whether it was read without a stated unit (CEA): then it is inferred, not explicit."""
    if v.is_constant:
        return v.constant, False
    if v.how == "regimen":  # the groups together name the regimen (FOLFOX + bevacizumab)
        text = " ".join(m.group(g) for g in v.groups if m.group(g))
        if not text:
            raise Unreadable
        return _regimen(text, rules), False
    name, text = _group(m, v.groups)
    how = v.how
    if how is None:
        return text.lower(), False
    if how == "int":
        return int(text), False
    if how == "count":
        t = text.lower().strip()
        n = int(t) if t.isdigit() else rules.maps["count"].get(t)
        if not n:
            raise Unreadable
        return n, False
    if how == "cm":
        unit = _unit_of(m, name, "u") or "cm"
        value = _number(text) / (10 if unit == "mm" else 1)
        return round(value, 2), False
    if how == "size":
        unit = _unit_of(m, name)
        if unit is None:
            raise Unreadable
        nums = [_number(text)]
        second = "num2" if name == "num" else None
        if second and second in m.re.groupindex and m.group(second):
            nums.append(_number(m.group(second)))
        return {"value": max(nums), "unit": unit}, False
    if how == "stage_t":
        t = text.lower()
        if t == "is":
            return "Tis", False
        return "T" + (t if t[0] == "4" and t[1:] in ("a", "b") else t[0]), False
    if how == "stage_n":
        n = text.lower()
        allowed = {"0": (), "1": ("a", "b", "c"), "2": ("a", "b")}[n[0]]
        return "N" + (n if n[1:] in allowed else n[0]), False
    if how == "date":
        return _date(text), False
    if how == "cea":
        unit = _unit_of(m, name)
        return _number(text), unit is None
    mapped = rules.maps[how].get(re.sub(r"\s+", " ", text.lower().strip()))
    if mapped is None:
        raise Unreadable
    return mapped, False

