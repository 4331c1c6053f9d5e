"""Benchmark: `mcrc verify` over the whole knowledge base (limit 30 s, aim 10 s in DESIGN.md).

Reports wall time per run (median of a few runs), the number of solver questions and rows/tables
covered. Run with `make bench`; not part of the test suite.
"""

from __future__ import annotations

import statistics
import sys
import time

import mcrc
from mcrc.verify import verify


def main(runs: int = 3) -> int:
    kb = mcrc.load_knowledge()
    times, report = [], None
    for _ in range(runs):
        t0 = time.perf_counter()
        report = verify(kb)
        times.append(time.perf_counter() - t0)
    median = statistics.median(times)
    print(f"mcrc verify: {len(kb.tables)} tables, {len(kb.rows)} rows, {len(kb.invariants)} invariants, "
          f"{len(kb.constraints)} constraints")
    print(f"  {report.questions} solver questions over every consistent patient (unknowns included)")
    for r in report.results:
        print(f"    {r.name:<36} {r.questions:>5} questions  {'holds' if not r.failures else 'FAILED'}")
    print(f"  median {median:.2f} s over {runs} runs (min {min(times):.2f} s)")
    print(f"  time / limit (30 s) = {median / 30:.3f};  time / aim (10 s) = {median / 10:.3f}")
    return 0 if report.ok and median <= 30 else 1


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 3))
