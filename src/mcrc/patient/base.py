"""What every part of the Patient record is built from: the strict model, dates, whole numbers, text, schema rules."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationInfo

Resectability = Literal["resectable", "potentially_resectable", "unresectable"]


class _Model(BaseModel):
    # strict: JSON types are taken as they are ("yes" is not a boolean, true is not a number, "0" is not an
    # integer); dates come as ISO strings (see IsoDate), never as numbers. NaN and Infinity are not numbers.
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True, strict=True,
                              allow_inf_nan=False)


def _not_in_future(value: dt.date | None, info: ValidationInfo) -> dt.date | None:
    if value is None:
        return value
    today = (info.context or {}).get("today") or dt.date.today()
    if value > today:
        raise ValueError(f"date {value.isoformat()} is in the future (today is {today.isoformat()})")
    return value


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(value: Any) -> Any:
    """A date is an ISO calendar date string (YYYY-MM-DD) or a date; a number is never read as a timestamp."""
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and _ISO_DATE.match(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"'{value}' is not a calendar date") from None
    shown = f"'{value}'" if isinstance(value, str) else f"{type(value).__name__} {value!r}"[:60]
    raise ValueError(f"expected a date as YYYY-MM-DD text, got {shown}")


def _whole_number(value: Any) -> Any:
    """JSON Schema's `integer` includes 2.0 (a number whose fraction is zero); so does ours. 2.5 stays refused.
    Used as a `mode="before"` field validator on every integer field (kept off the type so that the JSON Schema
    still says minimum/maximum)."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value

# Free text: no control characters other than tab, line feed and carriage return (the strict JSON reader refuses
# them too; this keeps Python callers and the OpenAPI description to the same rule).
TEXT_PATTERN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]*$"
Text = Annotated[str, Field(pattern=TEXT_PATTERN)]


PastDate = Annotated[dt.date, BeforeValidator(_iso_date),
                     Field(description="ISO date (YYYY-MM-DD), not in the future")]


def _when(field: str, values: list[Any], then: dict[str, Any]) -> dict[str, Any]:
    """A JSON Schema if/then: when `field` is given with one of `values`, the object must also match `then`."""
    return {"if": {"properties": {field: {"enum": values}}, "required": [field]}, "then": then}


def _null(*fields: str) -> dict[str, Any]:
    return {"properties": {f: {"type": "null"} for f in fields}}


def _rules(*rules: dict[str, Any]) -> ConfigDict:
    """The model's cross-field rules, also written into its JSON Schema (so the OpenAPI description refuses
    what the validators refuse, where JSON Schema can say it: dates compared with each other or with today
    cannot be, and stay validators only)."""
    def extra(schema: dict[str, Any]) -> None:
        schema.setdefault("allOf", []).extend(rules)

    return ConfigDict(**_Model.model_config, json_schema_extra=extra)
