"""Definitions the derived facts implement, with their parameters and citations."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True)
class Definition:
    id: str
    text: str
    params: dict[str, Any]
    cite: dict[str, Any]


@dataclass(frozen=True)
class Definitions:
    items: dict[str, Definition]

    def params(self, definition_id: str) -> dict[str, Any]:
        return self.items[definition_id].params


def parse_definitions(data: dict) -> Definitions:
    items = {
        key: Definition(id=key, text=" ".join(str(body["text"]).split()), params=body.get("params") or {},
                        cite=body["cite"])
        for key, body in (data.get("definitions") or {}).items()
    }
    return Definitions(items)


@cache
def load_definitions() -> Definitions:
    text = resources.files("mcrc.knowledge").joinpath("data/definitions.yaml").read_text(encoding="utf-8")
    return parse_definitions(yaml.safe_load(text))
