"""Clinicians' review marks of knowledge-base rows (issue 17) and the review status of every row."""

from __future__ import annotations

import logging
import re
import time
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from mcrc.errors import Problem
from mcrc.knowledge.reviews import MAX_COMMENT, ReviewBook, build_book
from mcrc.store import audit
from mcrc.store.base import StoreBase, _Chain, _now
from mcrc.store.errors import StoreInvalid
from mcrc.store.models import REVIEW_MARKS, RowReviewMark, User
from mcrc.store.records import ReviewRecord
from mcrc.store.states import _review_state

log = logging.getLogger("mcrc.store")


class ReviewsMixin(StoreBase):
    """Review marks of knowledge-base rows: mark a row, read the marks, the review book answers are given with."""

    def _review_problems(self, row: Any, status: Any, comment: Any) -> tuple[list[Problem], str | None]:
        """Every problem of a review mark (row, status, comment), and the comment as kept."""
        problems: list[Problem] = []
        rows = self.knowledge.rows
        if not isinstance(row, str) or row not in rows:
            import difflib

            close = difflib.get_close_matches(str(row), list(rows), n=3)
            problems.append(Problem("row", f"no row {row!r} in the knowledge base",
                                    ", ".join(close) if close else "a row id from `mcrc kb` or GET /api/v1/kb"))
        if status not in REVIEW_MARKS:
            problems.append(Problem("status", f"{status!r} is not a review status", ", ".join(REVIEW_MARKS)))
        kept: str | None = None
        if comment is not None and not isinstance(comment, str):
            problems.append(Problem("comment", "must be text"))
        elif isinstance(comment, str) and comment.strip():
            kept = comment.strip()
            if len(kept) > MAX_COMMENT:
                problems.append(Problem("comment", f"is {len(kept):,} characters; at most {MAX_COMMENT:,}"))
            elif re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", kept):
                problems.append(Problem("comment", "contains a control character (only tab and line breaks are kept)"))
        if status == "concern" and kept is None and not any(p.where == "comment" for p in problems):
            problems.append(Problem("comment", "is required with a concern: say what may be wrong with the row"))
        return problems, kept

    def mark_row(self, row: str, status: str, user: str, comment: str | None = None) -> ReviewRecord:
        """A clinician marks a knowledge-base row `reviewed`, or raises a `concern` (comment required), against the
        row's current version and the knowledge base's. Audited (`review.create`); StoreForbidden for any other role,
        StoreInvalid (nothing written) for an unknown row, status or a bad comment."""
        kb = self.knowledge

        def work(s: Session, chain: _Chain) -> ReviewRecord:
            u = self._user(s, user)
            self._allow(u, "review_row", f"row {row!r} of the knowledge base")
            problems, kept = self._review_problems(row, status, comment)
            if problems:
                raise StoreInvalid(problems)
            m = RowReviewMark(row_id=row, row_version=kb.rows[row].version, kb_version=kb.version, status=status,
                              comment=kept, user_id=u.id, role=u.role, created_at=_now())
            s.add(m)
            s.flush()
            self._checkpoint("entity_written")
            chain.append(u, "review.create", "review", m.id, None, _review_state(m))
            return self._review_record(m, u.name)

        try:
            return self._write(work)
        finally:
            with self._book_lock:
                self._book = None  # the next answer reads the marks again

    @staticmethod
    def _review_record(m: RowReviewMark, by: str) -> ReviewRecord:
        created = audit.utc_text(m.created_at)
        return ReviewRecord(id=m.id, row=m.row_id, status=m.status, comment=m.comment, reviewer=by, role=m.role,
                            date=created[:10], created_at=created, kb_version=m.kb_version, row_version=m.row_version)

    def _review_records(self, s: Session, row: str | None = None) -> list[ReviewRecord]:
        q = select(RowReviewMark, User.name).join(User, User.id == RowReviewMark.user_id).order_by(RowReviewMark.id)
        if row is not None:
            q = q.where(RowReviewMark.row_id == row)
        return [self._review_record(m, name) for m, name in s.execute(q)]

    def reviews(self, user: str | None = None, row: str | None = None) -> list[ReviewRecord]:
        """The review marks made in the app, oldest first (of one row, or all). With `user`, as that user (any
        role may read them); without, as the system (the command line: whoever can open the database)."""
        with self._read() as s:
            if user is not None:
                self._allow(self._user(s, user), "read_reviews", "review marks")
            return self._review_records(s, row)

    def review_book(self, fresh: bool = False) -> ReviewBook:
        """The review status of every row: the knowledge base's review file and the marks made in the app.

        Built again only when marks were added (their count and last id change: marks are never changed or
        deleted); the store is asked at most every `review_cache_seconds` unless `fresh`. When the store cannot
        be read, the knowledge file's statuses are returned (`sources` then says so: the answer shows it) and the
        store is asked again after `review_cache_seconds`."""
        kb = self.knowledge
        now = time.monotonic()
        with self._book_lock:
            kept = self._book
        if kept is not None and kept[1].kb_version == kb.version and not fresh \
                and now - kept[2] < self.review_cache_seconds:
            return kept[1]
        try:
            with self._read() as s:
                state = tuple(s.execute(select(func.count(), func.max(RowReviewMark.id))).one())
                if kept is not None and kept[0] == state and kept[1].kb_version == kb.version:
                    book = kept[1]
                else:
                    marks = [r.entry() for r in self._review_records(s)]
                    book = build_book(kb.version, kb.row_versions(), [*kb.review_book.entries, *marks],
                                      sources=("knowledge", "store"))
        except SQLAlchemyError as exc:
            state, book = None, kb.review_book
            if self._has_review_table():
                log.warning("review marks of the case store could not be read (%s); answers show the knowledge "
                            "base's review file only", type(exc).__name__)
            else:  # a store before schema 0006 holds no marks (a server refuses it; a migration may still assess)
                log.debug("the case store has no review marks table (schema before 0006)")
        with self._book_lock:
            self._book = (state, book, now)
        return book

    def _has_review_table(self) -> bool:
        """Whether the store's schema has the review marks (True when that cannot be told: the store is down)."""
        try:
            with self.engine.connect() as conn:
                return inspect(conn).has_table(RowReviewMark.__tablename__)
        except SQLAlchemyError:
            return True
