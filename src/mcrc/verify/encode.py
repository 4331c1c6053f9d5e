"""Translate the canonical condition tree into z3, Kleene logic included.

Each fact becomes two variables: `known` (Bool) and its value (Int index for enums, Bool, Int or
Real within the declared bounds). A condition becomes a pair of formulas (is TRUE, is FALSE);
UNKNOWN is neither. This is the same semantics as mcrc.logic and SQL NULL, derived from the same
tree the engine runs, so there is no second copy of any rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import z3

from mcrc.facts.catalog import FACTS, FactSpec
from mcrc.knowledge.expr import And, Cmp, Eq, Expr, In, Known, Not, Or


@dataclass
class FactVars:
    spec: FactSpec
    known: z3.BoolRef
    value: Any  # z3 Int / Bool / Real

    def encode(self, v: Any):
        """The z3 constant for a domain value (enum values become their index)."""
        if self.spec.kind == "enum":
            return z3.IntVal(self.spec.values.index(v))
        if self.spec.kind == "bool":
            return z3.BoolVal(bool(v))
        if self.spec.kind == "int":
            return z3.IntVal(int(v))
        return z3.RealVal(v)

    def decode(self, model: z3.ModelRef) -> Any:
        if not z3.is_true(model.eval(self.known, model_completion=True)):
            return None
        raw = model.eval(self.value, model_completion=True)
        if self.spec.kind == "enum":
            return self.spec.values[raw.as_long()]
        if self.spec.kind == "bool":
            return z3.is_true(raw)
        if self.spec.kind == "int":
            return raw.as_long()
        frac = raw.as_fraction()
        value = float(frac)
        return int(value) if value.is_integer() else round(value, 3)


class Encoder:
    """Holds the z3 variables of every fact and turns expressions into (TRUE, FALSE) formulas."""

    def __init__(self) -> None:
        self.vars: dict[str, FactVars] = {}
        self.domain: list[z3.BoolRef] = []
        for name, spec in FACTS.items():
            known = z3.Bool(f"known:{name}")
            if spec.kind == "enum":
                value = z3.Int(f"v:{name}")
                self.domain.append(z3.And(value >= 0, value < len(spec.values)))
            elif spec.kind == "bool":
                value = z3.Bool(f"v:{name}")
            elif spec.kind == "int":
                value = z3.Int(f"v:{name}")
                self.domain.append(z3.And(value >= int(spec.low), value <= int(spec.high)))
            else:
                value = z3.Real(f"v:{name}")
                self.domain.append(z3.And(value >= spec.low, value <= spec.high))
            self.vars[name] = FactVars(spec, known, value)
        self._cache: dict[int, tuple[Expr, tuple[z3.BoolRef, z3.BoolRef]]] = {}

    def _test(self, e: Expr) -> z3.BoolRef:
        fv = self.vars[e.fact]
        if isinstance(e, Eq):
            return fv.value == fv.encode(e.value)
        if isinstance(e, In):
            return z3.Or([fv.value == fv.encode(v) for v in e.values])
        if isinstance(e, Cmp):
            rhs = fv.encode(e.value)
            return {"lt": fv.value < rhs, "le": fv.value <= rhs, "gt": fv.value > rhs, "ge": fv.value >= rhs,
                    "ne": fv.value != rhs}[e.op]
        raise TypeError(e)

    def tf(self, e: Expr) -> tuple[z3.BoolRef, z3.BoolRef]:
        """(formula for 'e is TRUE', formula for 'e is FALSE') under Kleene logic."""
        hit = self._cache.get(id(e))
        if hit is not None and hit[0] is e:
            return hit[1]
        if isinstance(e, Known):
            k = self.vars[e.fact].known
            out = (k, z3.Not(k)) if e.known else (z3.Not(k), k)
        elif isinstance(e, Eq | In | Cmp):
            k = self.vars[e.fact].known
            test = self._test(e)
            out = (z3.And(k, test), z3.And(k, z3.Not(test)))
        elif isinstance(e, And):
            parts = [self.tf(i) for i in e.items]
            out = (z3.And([t for t, _ in parts]), z3.Or([f for _, f in parts])) if parts else (
                z3.BoolVal(True), z3.BoolVal(False))
        elif isinstance(e, Or):
            parts = [self.tf(i) for i in e.items]
            out = (z3.Or([t for t, _ in parts]), z3.And([f for _, f in parts]))
        elif isinstance(e, Not):
            t, f = self.tf(e.item)
            out = (f, t)
        else:
            raise TypeError(f"not a condition node: {e!r}")
        self._cache[id(e)] = (e, out)
        return out

    def true(self, e: Expr) -> z3.BoolRef:
        return self.tf(e)[0]

    def assignment(self, values: dict[str, Any]) -> list[z3.BoolRef]:
        """Pin every fact to a concrete value (None = unknown): used to compare with the engine."""
        out = []
        for name, fv in self.vars.items():
            v = values.get(name)
            if v is None:
                out.append(z3.Not(fv.known))
            else:
                out += [fv.known, fv.value == fv.encode(v)]
        return out

    def decode(self, model: z3.ModelRef) -> dict[str, Any]:
        return {name: fv.decode(model) for name, fv in self.vars.items()}
