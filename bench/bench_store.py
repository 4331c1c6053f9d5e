"""Benchmark: cases added, assessed and stored per second in the case store (SQLite and PostgreSQL).

Each case is one `Store.add_case` and one `Store.assess` (two write transactions, each with its
audit entry; SQLite with WAL and synchronous=FULL, so every commit is fsynced). The sample cases in
examples/ are cycled. Every backend starts from a fresh schema: a temporary SQLite file, and on
PostgreSQL (MCRC_TEST_POSTGRES, else skipped) a new schema dropped afterwards. Run with `make bench`;
not part of the test suite.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import mcrc
from mcrc.store import Store

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def run(url: str, patients: list[dict], n: int) -> list[float]:
    with Store(url) as store:
        store.upgrade()
        store.add_user("bench", "clinician")
        samples = []
        for i in range(n):
            t0 = time.perf_counter_ns()
            case = store.add_case(patients[i % len(patients)], user="bench")
            store.assess(case.id, user="bench")
            samples.append((time.perf_counter_ns() - t0) / 1e6)
        assert store.verify_chain().ok
    return samples


def report(name: str, samples: list[float]) -> None:
    total = sum(samples) / 1000
    print(f"{name:<11} {len(samples)} cases in {total:6.2f} s = {len(samples) / total:7.1f} cases/s   "
          f"per case p50 {percentile(samples, 50):6.2f} ms  p99 {percentile(samples, 99):6.2f} ms  "
          f"mean {statistics.fmean(samples):6.2f} ms")


def main(n: int = 200) -> int:
    patients = [json.loads(p.read_text(encoding="utf-8")) for p in sorted((ROOT / "examples").glob("*.json"))]
    mcrc.load_knowledge()
    print(f"case store: add + assess + store, {n} cases cycled from {len(patients)} examples")
    with tempfile.TemporaryDirectory() as tmp:
        report("SQLite", run(f"sqlite:///{Path(tmp) / 'bench.db'}", patients, n))
    base = os.environ.get("MCRC_TEST_POSTGRES")
    if not base:
        print("PostgreSQL  skipped: set MCRC_TEST_POSTGRES=postgresql+psycopg://user:pw@host/db")
        return 0
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        report("PostgreSQL", run(url.render_as_string(hide_password=False), patients, n))
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
