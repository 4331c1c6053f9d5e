"""Benchmark: one patient through `mcrc.assess` in process (validation, facts, all tables, safety).

Reports, in one run (this machine drifts 15-30% between runs: compare within a run), p50/p99 per call over the
sample cases in examples/ of:
- the whole `mcrc.assess` (trace, provisional answer and branches on, as the app calls it) with the compiled
  tables (the default) and with the reference interpreter, and with branches off;
- `assess_facts` (facts in: no validation, derivation, presumptions or input hash);
- each part of one assessment: parse (validation), derive, hash, rows (compiled and interpreted), assembly of
  the Assessment, safety;
- the floor: a plain Python three-valued loop over one synthetic 120-row, 25-fact table;
and the ratios to the DESIGN.md limit (p99 1 ms) and to the issue-23 targets (p50 200 us, p99 500 us). Rounds
interleave the measured functions, so drift hits them alike. Run with `make bench`; not part of the test suite.
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import time
from pathlib import Path

import mcrc
from mcrc.engine import assess_facts, input_hash
from mcrc.engine.build import build_assessment
from mcrc.engine.evaluate import evaluate_tables
from mcrc.engine.safety import check_safety
from mcrc.patient import parse_patient

ROOT = Path(__file__).resolve().parent.parent
LIMIT_US, AIM_US = 1000.0, 200.0
TARGET_P50_US, TARGET_P99_US = 200.0, 500.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def measure(fn, cases: list, rounds: int) -> list[float]:
    for case in cases:  # warm-up: caches, first-call imports
        fn(case)
    samples = []
    for _ in range(rounds):
        for case in cases:
            t0 = time.perf_counter_ns()
            fn(case)
            samples.append((time.perf_counter_ns() - t0) / 1000)
    return samples


def measure_all(fns: dict[str, tuple], rounds: int) -> dict[str, list[float]]:
    """Each function over its cases, round by round (interleaved), after one warm-up pass."""
    out: dict[str, list[float]] = {name: [] for name in fns}
    for fn, cases in fns.values():
        for case in cases:
            fn(case)
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for name, (fn, cases) in fns.items():
            samples = out[name]
            for case in cases:
                t0 = clock()
                fn(case)
                samples.append((clock() - t0) / 1000)
    return out


# --- the floor: a plain Python three-valued loop over one table ---------------------------------------------------

def floor_table(seed: int = 1) -> tuple[list[list[tuple[int, int]]], list[list]]:
    """A synthetic table of 120 rows over 25 facts (4 values each), 2-5 equality conditions a row, and 200 fact
    rows with 10% unknown."""
    rnd = random.Random(seed)
    rows = [[(f, rnd.randrange(4)) for f in rnd.sample(range(25), rnd.randint(2, 5))] for _ in range(120)]
    facts = [[None if rnd.random() < 0.1 else rnd.randrange(4) for _ in range(25)] for _ in range(200)]
    return rows, facts


def floor_eval(rows, values) -> tuple[int, int]:
    fired = possible = 0
    for conds in rows:
        res = 2
        for f, want in conds:
            x = values[f]
            if x is None:
                res = 1
            elif x != want:
                res = 0
                break
        if res == 2:
            fired += 1
        elif res == 1:
            possible += 1
    return fired, possible


def line(name: str, samples: list[float], ref: float | None = None) -> str:
    p50, p99 = percentile(samples, 50), percentile(samples, 99)
    ratio = f"   x{p50 / ref:5.2f} of the floor at p50" if ref else ""
    return f"  {name:<34} p50 {p50:8.1f} us   p99 {p99:8.1f} us   mean {statistics.fmean(samples):8.1f} us{ratio}"


def main(rounds: int = 300) -> int:
    cases = [json.loads(p.read_text()) for p in sorted((ROOT / "examples").glob("*.json"))]
    kb = mcrc.load_knowledge()
    patients = [parse_patient(c) for c in cases]
    facts = [mcrc.derive_facts(p, kb.definitions) for p in patients]
    traced = [evaluate_tables(kb, f, trace=True) for f in facts]
    built = [build_assessment(kb, f, trace=True, evaluated=r) for f, r in zip(facts, traced, strict=True)]
    idx = list(range(len(cases)))
    rows, floor_facts = floor_table()
    fns = {
        "assess (compiled)": (mcrc.assess, cases),
        "assess (interpreted)": (lambda c: mcrc.assess(c, compiled=False), cases),
        "assess, branches off": (lambda c: mcrc.assess(c, branch=False), cases),
        "assess_facts (facts in)": (lambda f: assess_facts(f, kb), facts),
        "part: parse (validation)": (parse_patient, cases),
        "part: derive": (lambda p: mcrc.derive_facts(p, kb.definitions), patients),
        "part: input hash": (input_hash, patients),
        "part: rows, compiled (traced)": (lambda f: evaluate_tables(kb, f, trace=True), facts),
        "part: rows, interpreted (traced)": (lambda f: evaluate_tables(kb, f, trace=True, compiled=False), facts),
        "part: assembly": (lambda i: build_assessment(kb, facts[i], trace=True, evaluated=traced[i]), idx),
        "part: safety": (lambda i: check_safety(kb, built[i], facts[i]), idx),
        "floor: one 120-row table": (lambda v: floor_eval(rows, v), floor_facts[:len(cases)]),
    }
    res = measure_all(fns, rounds)
    floor = percentile(res["floor: one 120-row table"], 50)
    full = res["assess (compiled)"]
    p50, p99 = percentile(full, 50), percentile(full, 99)
    print(f"{len(cases)} examples x {rounds} rounds, interleaved; all sources loaded (kb {kb.version}); "
          f"trace, provisional answers and branches on unless said")
    for name, samples in res.items():
        print(line(name, samples, floor))
    interp = res["assess (interpreted)"]
    print(f"  compiled / interpreted whole assess: p50 x{p50 / percentile(interp, 50):.2f}, "
          f"p99 x{p99 / percentile(interp, 99):.2f}")
    rc, ri = res["part: rows, compiled (traced)"], res["part: rows, interpreted (traced)"]
    print(f"  compiled / interpreted rows:         p50 x{percentile(rc, 50) / percentile(ri, 50):.2f}, "
          f"p99 x{percentile(rc, 99) / percentile(ri, 99):.2f}")
    print(f"  assess p50 / target (200 us) = {p50 / TARGET_P50_US:.2f};  p99 / target (500 us) = "
          f"{p99 / TARGET_P99_US:.2f};  p99 / limit (1 ms) = {p99 / LIMIT_US:.2f};  p99 / aim (0.2 ms) = "
          f"{p99 / AIM_US:.2f}")
    af = res["assess_facts (facts in)"]
    print(f"  assess_facts p99 / target (200 us) = {percentile(af, 99) / AIM_US:.2f}")
    letters = [c for c in cases if "-letter-" in str(c.get("id", ""))]
    if letters:
        sparse = measure(mcrc.assess, letters, max(rounds // 3, 1))
        print(f"  the {len(letters)} referral-letter examples alone (presumptions and branches): "
              f"p50 {percentile(sparse, 50):.1f} us, p99 {percentile(sparse, 99):.1f} us")
    return 0 if p99 <= LIMIT_US else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
