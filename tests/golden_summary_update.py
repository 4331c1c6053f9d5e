"""Regenerate the board-summary goldens: tests/golden_summary/<stem>.txt (terminal) and <stem>.md (Markdown) for
the examples in SUMMARY_EXAMPLES (decision record 0037).

Run from the project root as `python -m tests.golden_summary_update` after an intended change to the summary, the
knowledge base or an example, then read the diff before committing. `--check` only reports which are out of date
and exits 1 if any are. The JSON goldens (tests/golden_update.py) are unaffected by the summary.
"""

from __future__ import annotations

import sys
from pathlib import Path

from mcrc.render.markdown import render_summary_markdown
from mcrc.render.text import render_summary_text
from tests.golden_update import EXAMPLES, assess_example, sync

GOLDEN = Path(__file__).resolve().parent / "golden_summary"
# one of each shape a board meets: curative route, emergency first, palliative first line with a branch, a
# right-sided caveat, the current standard with caveats, a treated second line, an unfit patient, a provisional
# referral, a provisional answer with three branches, an out-of-scope referral
SUMMARY_EXAMPLES = (
    "01-sync-low-rectal-resectable",
    "08-obstructing-sigmoid-emergency",
    "32-palliative-first-line-left-ras-wild-type",
    "33-palliative-first-line-right-ras-wild-type-lung-and-liver",
    "46-colon-peritoneal-only-refer",
    "47-evidence-msi-h-first-line-immunotherapy",
    "59-treated-second-line-after-folfox-bev-kras-mutant",
    "65-treated-frail-first-line-unfit-82",
    "79-letter-sigmoid-two-right-lung-nodules",
    "84-letter-descending-colon-bilateral-lung-ras-wild",
)


def outputs(stem: str) -> dict[Path, str]:
    a = assess_example(EXAMPLES / f"{stem}.json")
    return {GOLDEN / f"{stem}.txt": render_summary_text(a), GOLDEN / f"{stem}.md": render_summary_markdown(a)}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    check = "--check" in args
    wanted = {target: text for stem in SUMMARY_EXAMPLES for target, text in outputs(stem).items()}
    changed = sync(wanted, GOLDEN, "*.*", check, "not in SUMMARY_EXAMPLES")
    print(f"{len(SUMMARY_EXAMPLES)} examples, {len(changed)} summary golden file(s) "
          f"{'out of date' if check else 'changed'}")
    return 1 if check and changed else 0


if __name__ == "__main__":
    raise SystemExit(main())
