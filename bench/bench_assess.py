"""Benchmark: one patient through `mcrc.assess` in process (validation, facts, all tables, safety).

Reports p50/p99 per call over the sample cases in examples/, and the ratio to the DESIGN.md limit
(p99 1 ms) and aim (0.2 ms). Run with `make bench`; not part of the test suite.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

import mcrc
from mcrc.patient import parse_patient

ROOT = Path(__file__).resolve().parent.parent
LIMIT_US, AIM_US = 1000.0, 200.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def measure(fn, cases: list[dict], rounds: int) -> list[float]:
    for case in cases:  # warm-up: caches, first-call imports
        fn(case)
    samples = []
    for _ in range(rounds):
        for case in cases:
            t0 = time.perf_counter_ns()
            fn(case)
            samples.append((time.perf_counter_ns() - t0) / 1000)
    return samples


def main(rounds: int = 300) -> int:
    cases = [json.loads(p.read_text()) for p in sorted((ROOT / "examples").glob("*.json"))]
    mcrc.load_knowledge()
    full = measure(mcrc.assess, cases, rounds)
    strict = measure(lambda c: mcrc.assess(c, branch=False), cases, rounds)
    letters = [c for c in cases if "-letter-" in str(c.get("id", ""))]
    sparse = measure(mcrc.assess, letters, rounds) if letters else []
    validate = measure(parse_patient, cases, rounds)
    p50, p99 = percentile(full, 50), percentile(full, 99)
    print(f"mcrc.assess over {len(cases)} examples x {rounds} rounds = {len(full)} calls (branches and "
          "provisional answers on)")
    print(f"  p50 {p50:8.1f} us   p99 {p99:8.1f} us   mean {statistics.fmean(full):8.1f} us")
    print(f"  p99 / limit (1 ms)   = {p99 / LIMIT_US:.2f}")
    print(f"  p99 / aim (0.2 ms)   = {p99 / AIM_US:.2f}")
    print(f"  branches off: p50 {percentile(strict, 50):.1f} us, p99 {percentile(strict, 99):.1f} us "
          f"(branches cost x{p50 / percentile(strict, 50):.2f} at p50)")
    if sparse:
        print(f"  the {len(letters)} referral-letter examples alone (presumptions and branches): "
              f"p50 {percentile(sparse, 50):.1f} us, p99 {percentile(sparse, 99):.1f} us")
    print(f"  validation alone: p50 {percentile(validate, 50):.1f} us, p99 {percentile(validate, 99):.1f} us")
    return 0 if p99 <= LIMIT_US else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 300))
