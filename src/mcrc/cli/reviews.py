"""`mcrc kb reviews`: the clinical review status of the rows, from reviews.yaml and the case store's marks."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from mcrc.cli.common import knowledge
from mcrc.cli.kb import review_words
from mcrc.console import EXIT_INPUT, err, out
from mcrc.console import fail as _fail
from mcrc.store.cli.common import DB, run_store

reviews_app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                          help="Clinical review of the rows: list every row's status, export the marks made in the "
                               "app for a knowledge maintainer to merge into reviews.yaml.")


def _review_book(db: str, file_only: bool):
    """The review status of every row: the knowledge file's, and the store's marks unless `file_only`."""
    if file_only:
        kb = knowledge()
        return kb, kb.review_book, []

    def read(store):
        kb = store.knowledge
        marks = store.reviews()
        book = store.review_book(fresh=True)
        if "store" not in book.sources:  # review_book falls back to the file for answers; a listing says so
            from mcrc.store.errors import StoreError

            raise StoreError("the review marks of the case store could not be read")
        return kb, book, marks

    return run_store(db, read)


@reviews_app.command("list")
def reviews_list(
    db: str = DB,
    file_only: bool = typer.Option(False, "--file-only", help="Only the knowledge base's reviews.yaml (no store)"),
    every_row: bool = typer.Option(False, "--all", help="Every row, not only those with a review or a concern"),
    as_json: bool = typer.Option(False, "--json", help="JSON: {kb_version, reviews_from, counts, rows}"),
) -> None:
    """The clinical review status of the rows: the knowledge base's reviews.yaml and the marks made in the app. A row
    without a review of its current version is not clinically reviewed."""
    kb, book, _ = _review_book(db, file_only)
    shown = [rid for rid in kb.rows if every_row or book.get(rid).status != "not_reviewed"]
    counts = book.counts()
    if as_json:
        from dataclasses import asdict

        rows = {rid: {"version": kb.rows[rid].version, **asdict(book.get(rid))} for rid in shown}
        sys.stdout.write(json.dumps({"kb_version": kb.version, "reviews_from": list(book.sources),
                                     "counts": {**counts, "rows": len(kb.rows)}, "rows": rows},
                                    indent=2, default=str) + "\n")
        return
    where = "reviews.yaml and the case store's marks" if "store" in book.sources else "reviews.yaml only"
    out.print(f"knowledge base {kb.version}: {counts['reviewed']} of {len(kb.rows)} rows clinically reviewed, "
              f"a concern on {counts['concern']}, {counts['earlier_version']} reviewed only before a change; "
              f"every other row is not clinically reviewed ({where})", markup=False)
    if not shown:
        return
    for rid in shown:
        rv = book.get(rid)
        where = {"store": " (marked in the app)", "knowledge": " (reviews.yaml)"}.get(rv.source or "", "")
        out.print(f"{rid} [{kb.rows[rid].version}]: {review_words(rv)}{where}", markup=False)


@reviews_app.command("export")
def reviews_export(
    db: str = DB,
    output: Path = typer.Option(None, "--output", "-o", help="Write to FILE (default: standard output)"),
    merged: bool = typer.Option(False, "--merged", help="The whole reviews.yaml: the knowledge base's own entries "
                                "followed by the new marks (to replace the file), not only the new marks"),
) -> None:
    """Export the review marks made in the app as a reviews.yaml document, for a knowledge maintainer to merge into
    src/mcrc/knowledge/data/reviews.yaml (marks the file already holds are left out, each mark appears once)."""
    import datetime as dt

    from mcrc.knowledge.reviews import EXPORT_HEADER, dump_reviews, export_entries

    kb, _, marks = _review_book(db, False)
    entries, gone = export_entries(kb.review_book.entries, [m.entry() for m in marks], kb.row_versions(),
                                   merged=merged)
    new = len(entries) - (len(kb.review_book.entries) if merged else 0)
    for m in gone:
        err.print(f"left out: mark of {m.row} by {m.reviewer} on {m.date}: the row is no longer in the knowledge "
                  "base", markup=False)
    what = (f"the knowledge base's {len(kb.review_book.entries)} review(s) and {new} new mark(s)" if merged
            else f"{new} mark(s) not yet in its reviews.yaml")
    how = ("replace src/mcrc/knowledge/data/reviews.yaml with this file (keep its header comment)," if merged
           else "append the entries under `reviews:` to the list in src/mcrc/knowledge/data/reviews.yaml,")
    header = EXPORT_HEADER.format(when=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"), kb_version=kb.version,
                                  what=what, how=how)
    text = dump_reviews(entries, header)
    if output is None:
        sys.stdout.write(text)
    else:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as exc:
            _fail(f"{output}: cannot write ({exc.strerror or exc})", EXIT_INPUT)
        err.print(f"{new} new review mark(s) written to {output}", markup=False)
