"""Validation problems in the form's words: a field's place and allowed range, each problem next to its field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mcrc.web.form_fields import BY_KEY, FieldSpec, field_key


def _num(x: float) -> str:
    return f"{x:g}"


def range_text(spec: FieldSpec) -> str:
    """The allowed range of a number field in words: 'from 18 to 110', 'more than 0 and at most 500'."""
    lo, hi = spec.low, spec.high
    if lo is not None and hi is not None:
        return f"more than {_num(lo)} and at most {_num(hi)}" if spec.low_open else f"from {_num(lo)} to {_num(hi)}"
    if lo is not None:
        return f"more than {_num(lo)}" if spec.low_open else f"at least {_num(lo)}"
    return f"at most {_num(hi)}" if hi is not None else ""


def where_label(path: str) -> str:
    """A problem's place in the form's words, rows numbered from 1: 'Metastatic site 2 › Lung zone'."""
    if not path or path == "(patient)":
        return "The patient"
    parts: list[str] = []
    done = ""
    for m in re.finditer(r"([^.\[\]]+)(?:\[(\d+)\])?", path):
        done = f"{done}.{m.group(1)}" if done else m.group(1)
        spec = BY_KEY.get(done)
        if m.group(2) is not None:
            parts.append(f"{spec.row_label if spec and spec.row_label else m.group(1)} {int(m.group(2)) + 1}")
        elif (spec is not None and spec.kind not in ("group",)) or m.end() == len(path):
            parts.append(spec.label if spec else m.group(1))
    return " › ".join(parts)


_RANGE = re.compile(r"^Input should be (?:greater|less) than(?: or equal to)? [-+\d.e]+ \(got (.*)\)$")
_ORGAN = re.compile(r"(\S+(?:, \S+)*) apply only to (.+?) lesions \(organ is (\w+)\)")


def _named(row_key: str, names: str) -> str:
    """Field names of a row ('zone, pci', 'lesions[0].zone') in the form's words."""
    out = []
    for name in names.split(", "):
        m = re.match(r"^(\w+)\[(\d+)\]\.(\w+)$", name)
        if m:
            spec = BY_KEY.get(f"{row_key}.{m.group(1)}.{m.group(3)}")
            rows = BY_KEY.get(f"{row_key}.{m.group(1)}")
            out.append(f"{spec.label if spec else m.group(3)} of {rows.row_label if rows else m.group(1)} "
                       f"{int(m.group(2)) + 1}")
        else:
            spec = BY_KEY.get(f"{row_key}.{name}")
            out.append(spec.label if spec else name)
    return ", ".join(out)


def clinical_text(problem: Mapping[str, Any]) -> str:
    """A validation problem in the form's words, with the allowed values or range (decision record 0040). The place
    is not repeated: the message stands next to its field, or `where_label` names it."""
    where = problem.get("field") or ""
    msg = str(problem.get("message") or "")
    spec = BY_KEY.get(field_key(where))
    allowed = problem.get("allowed")
    if spec is not None and spec.kind in ("integer", "number"):
        whole = "a whole number" if spec.kind == "integer" else "a number"
        span = range_text(spec)
        if m := _RANGE.match(msg):
            return f"must be {span} (got {m.group(1)})"
        if msg.startswith("expected "):
            return f"must be {whole}{' ' + span if span else ''}; got {msg.split(', got ', 1)[-1]}"
    if spec is not None and spec.choices and (m := re.match(r"^'(.*)' is not an allowed value$", msg)):
        return f"'{m.group(1)}' is not one of the choices; choose one of: " + ", ".join(lab for _, lab in spec.choices)
    if msg == "Field required":
        return "required here; give it, or leave the whole group blank"
    if msg == "unknown field":
        return "is not a field of this form"
    row_key = field_key(where)
    if (spec is not None and spec.kind == "repeat") or re.search(r"\[\d+\]$", where):
        def organ(m: re.Match[str]) -> str:
            names = m.group(1)
            one = ", " not in names
            organs = m.group(2).replace(" (which lung) or liver (which lobe)", " or liver")
            return (f"{_named(row_key, names)} {'belongs' if one else 'belong'} only to {organs} sites; this row is "
                    f"{m.group(3).replace('_', ' ')}: clear {'it' if one else 'them'} or change the organ")
        msg = _ORGAN.sub(organ, msg)
    if spec is not None and spec.kind in ("group", "repeat"):  # a rule across fields: their names in words
        for child in sorted(spec.children, key=lambda c: -len(c.name)):
            if "_" in child.name:
                msg = re.sub(rf"\b{child.name}\b", child.label, msg)
    text = msg
    if allowed and "allowed" not in text:
        text += f" (allowed: {allowed})"
    return text


def place_problems(problems: list[dict[str, Any]], paths: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """Attach each problem, in the form's words, to the nearest field or group the form shows; the rest go to the
    summary, named by their place in the form."""
    placed: dict[str, list[str]] = {}
    rest: list[str] = []
    for p in problems:
        where = p.get("field") or ""
        target = where
        while target and target not in paths:
            target = re.sub(r"(\.[^.\[\]]+|\[\d+\])$", "", target) if re.search(r"[.\[]", target) else ""
        text = clinical_text(p)
        if target:
            if target != where:
                text = f"{where_label(where)}: {text}"
            placed.setdefault(target, []).append(text)
        else:
            rest.append(f"{where_label(where)}: {text}" if where else text)
    return placed, rest


def messages(problems: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Each problem's field path, place and text in the form's words, for the page's validate-as-you-type."""
    return [{"field": p.get("field") or "", "where": where_label(p.get("field") or ""), "text": clinical_text(p)}
            for p in problems]

