"""Driver for `spark-submit`: audit a cohort Parquet file on whatever cluster the session comes from.

    spark-submit --master <cluster> "$(python -c 'import mcrc.cohort.submit as m; print(m.__file__)')" \\
        <cohort.parquet URI> <output directory on the driver> [--no-evidence]

The driver's Python needs the `mcrc` package installed (the wheel: its knowledge base is read from the
installed files); the executors run only JVM code (no Python UDF), so they need no Python packages.
Writes `concordance.csv` to the output directory and exits 2 with a one-line message on bad input.
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    evidence = "--no-evidence" not in args
    args = [a for a in args if a != "--no-evidence"]
    if len(args) != 2:
        print("usage: spark-submit submit.py <cohort.parquet URI> <output directory> [--no-evidence]",
              file=sys.stderr)
        return 2
    from pyspark.sql import SparkSession

    from mcrc.cohort import spark as spark_backend
    from mcrc.cohort.audit import concordance_table
    from mcrc.cohort.plan import build_plan
    from mcrc.knowledge import load_knowledge

    session = spark_backend.configure(SparkSession.builder.appName("mcrc-cohort")).getOrCreate()
    try:
        plan = build_plan(load_knowledge(), evidence)
        _, groups, totals = spark_backend.run(None, plan, decisions=False, session=session, path=args[0])
        out = Path(args[1])
        out.mkdir(parents=True, exist_ok=True)
        concordance_table(plan, groups, totals).write_csv(out / "concordance.csv")
    except Exception as exc:  # one clear line instead of a JVM traceback
        print(f"mcrc cohort on Spark: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
              file=sys.stderr)
        return 2
    finally:
        session.stop()
    print(f"wrote {out / 'concordance.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
