"""The review status of an answer made earlier, brought up to date (issue 17).

A stored assessment records the review status its rows had when it was made. The web page of a case shows the
status as it is now, so that a row marked reviewed (or questioned) after the assessment shows at once; this is
only sound while the knowledge base is the one the answer was made with (its rows are then the rows reviewed).
For an answer of another knowledge-base version the recorded status stays as it was.
"""

from __future__ import annotations

from dataclasses import replace

from mcrc.engine.assessment import Assessment
from mcrc.knowledge.reviews import ReviewBook, item_status

ITEM_SECTIONS = ("first_steps", "local_treatment", "regimens", "warnings", "tests", "workup", "prognosis",
                 "followup", "considerations", "referrals", "evidence", "current_standard")


def apply_reviews(a: Assessment, book: ReviewBook) -> Assessment:
    """A copy of `a` whose review fields are those of `book`; `a` itself when `book` is of another knowledge base
    than the one `a` was made with."""
    if a.provenance.kb_version != book.kb_version:
        return a

    def of(item):
        return replace(item, review=item_status(book.get(r) for r in item.rows))

    update = {name: [of(i) for i in getattr(a, name)] for name in ITEM_SECTIONS}
    update["goal"] = of(a.goal) if a.goal is not None else None
    update["strategies"] = [replace(s, review=item_status([book.get(s.row)])) for s in a.strategies]
    update["positions"] = [replace(t, views=[replace(v, review=item_status([book.get(v.row)])) for v in t.views])
                           for t in a.positions]
    update["reviews"] = {r.row: book.get(r.row) for r in a.rationale}
    update["provenance"] = replace(a.provenance, reviews_from=list(book.sources))
    return a.model_copy(update=update)
