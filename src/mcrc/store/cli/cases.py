"""`mcrc case` and `mcrc decide`: tumor-board cases (add, update, assess, diff, export, import) and MDT decisions."""

from __future__ import annotations

import typer
from rich.table import Table

from mcrc import strictjson
from mcrc.console import EXIT_INPUT, out, read_source
from mcrc.console import fail as _fail
from mcrc.errors import InputError
from mcrc.store.api import Store
from mcrc.store.cli.common import DB, USER, group, print_json, read_patient, run_store
from mcrc.store.models import BOARD_ROLES, DEVIATION_REASONS

case_app = group("Tumor-board cases: add, list, show, assess, diff, delete, export, import, reassess-stale.")


# ---- cases ------------------------------------------------------------------------------------
@case_app.command("add")
def case_add(source: str = typer.Argument(..., help="Patient JSON file, or - for standard input"),
             user: str = USER, db: str = DB) -> None:
    """Validate a patient and register it as a new case."""
    patient = read_patient(source)
    c = run_store(db, lambda s: s.add_case(patient, user))
    out.print(f"case {c.id} added (version {c.version}, {c.label or 'no label'})")


@case_app.command("update")
def case_update(case_id: int = typer.Argument(...), source: str = typer.Argument(...),
                version: int = typer.Option(..., "--version", help="The version you edited (optimistic lock)"),
                user: str = USER, db: str = DB) -> None:
    """Replace a case's patient; refused if someone changed the case since `--version`."""
    patient = read_patient(source)
    c = run_store(db, lambda s: s.update_case(case_id, patient, version, user))
    out.print(f"case {c.id} updated to version {c.version}")


@case_app.command("delete")
def case_delete(case_id: int = typer.Argument(...), version: int = typer.Option(None, "--version"),
                user: str = USER, db: str = DB) -> None:
    """Soft-delete a case (kept for audit, hidden from lists)."""
    c = run_store(db, lambda s: s.delete_case(case_id, user, expected_version=version))
    out.print(f"case {c.id} deleted (version {c.version})")


@case_app.command("list")
def case_list(user: str = USER, db: str = DB, deleted: bool = typer.Option(False, "--deleted"),
              fmt: str = typer.Option("text", "--format", "-f", help="text or json")) -> None:
    """List cases."""
    cases = run_store(db, lambda s: s.list_cases(user, include_deleted=deleted))
    if fmt == "json":
        print_json([{k: v for k, v in c.__dict__.items() if k != "patient"} for c in cases])
        return
    table = Table(title=f"{len(cases)} case(s)")
    for col in ("id", "label", "version", "updated", "deleted"):
        table.add_column(col)
    for c in cases:
        table.add_row(str(c.id), c.label or "", str(c.version), c.updated_at, "yes" if c.deleted else "")
    out.print(table)


@case_app.command("show")
def case_show(case_id: int = typer.Argument(...), user: str = USER, db: str = DB) -> None:
    """Show a case (JSON): patient, version, assessments and decisions."""
    def run(s: Store):
        c = s.get_case(case_id, user)
        return {**c.__dict__,
                "assessments": [{k: v for k, v in a.__dict__.items() if k != "assessment"}
                                for a in s.assessments(case_id, user)],
                "decisions": [d.__dict__ for d in s.decisions(case_id, user)]}
    print_json(run_store(db, run))


@case_app.command("assess")
def case_assess(case_id: int = typer.Argument(...), user: str = USER, db: str = DB,
                full: bool = typer.Option(False, "--json", help="Print the whole stored Assessment JSON")) -> None:
    """Assess the case as it stands now and store the answer (a new assessment each time)."""
    a = run_store(db, lambda s: s.assess(case_id, user))
    if full:
        print_json(a.assessment)
        return
    out.print(f"assessment {a.id} of case {a.case_id} (version {a.case_version}), knowledge base {a.kb_version}, "
              f"engine {a.engine_version}")


@case_app.command("diff")
def case_diff(case_id: int = typer.Argument(...), user: str = USER, db: str = DB) -> None:
    """What the newest assessment adds or removes compared with the previous one (JSON)."""
    print_json(run_store(db, lambda s: s.diff(case_id, user)))


@case_app.command("reassess-stale")
def case_reassess_stale(user: str = USER, db: str = DB,
                        as_json: bool = typer.Option(False, "--json", help="Print the diffs as JSON")) -> None:
    """Assess again every case whose newest assessment came from another knowledge-base or engine version."""
    results = run_store(db, lambda s: s.reassess_stale(user))
    if as_json:
        print_json([d for _, d in results])
        return
    out.print(f"{len(results)} stale case(s) re-assessed")
    for case_id, d in results:
        head = f"case {case_id}: knowledge base {d['from']['kb_version']} -> {d['to']['kb_version']}"
        if d["from"]["engine_version"] != d["to"]["engine_version"]:
            head += f", engine {d['from']['engine_version']} -> {d['to']['engine_version']}"
        out.print(f"{head}: {'changed' if d['changed'] else 'no change'}")
        for name, change in d["sections"].items():
            for what in ("added", "removed"):
                if change[what]:
                    out.print(f"  {name} {what}: {', '.join(change[what])}")


@case_app.command("export")
def case_export(case_id: int = typer.Argument(...), user: str = USER, db: str = DB) -> None:
    """Print a case as JSON (mcrc.case-export/1): patient, metadata, every assessment and decision."""
    print_json(run_store(db, lambda s: s.export_case(case_id, user)))


@case_app.command("import")
def case_import(source: str = typer.Argument(..., help="A `mcrc case export` JSON file, or - for standard input"),
                user: str = USER, db: str = DB) -> None:
    """Validate an exported case as a whole and register its patient as a new case."""
    try:
        data = strictjson.loads(read_source(source))
    except InputError as exc:
        _fail(f"{source}: {exc}", EXIT_INPUT)
    c = run_store(db, lambda s: s.import_case(data, user))
    out.print(f"case {c.id} imported from case {data['case']['id']} (version {c.version}, {c.label or 'no label'})")


def decide(case_id: int = typer.Argument(...),
           strategy: list[str] = typer.Option(..., "--strategy", "-s", help="A chosen action or regimen code"),
           rationale: str = typer.Option(..., "--rationale"),
           concordant: bool = typer.Option(..., "--concordant/--not-concordant",
                                           help="Whether the decision follows the assessment"),
           deviation: str = typer.Option(None, "--deviation", help=", ".join(DEVIATION_REASONS)),
           deviation_text: str = typer.Option(None, "--deviation-text"),
           participant: list[str] = typer.Option([], "--participant", "-p",
                                                 help="ROLE:NAME (e.g. hepatobiliary_surgeon:A. Silva), repeatable"),
           user: str = USER, db: str = DB) -> None:
    """Record the MDT decision on a case (coordinators only)."""
    people: dict[str, list[str]] = {}
    for item in participant:
        role, sep, name = item.partition(":")
        if not sep or not name.strip():
            _fail(f"--participant {item!r}: expected ROLE:NAME (roles: {', '.join(BOARD_ROLES)})", EXIT_INPUT)
        people.setdefault(role.strip(), []).append(name.strip())
    d = run_store(db, lambda s: s.decide(case_id, strategies=strategy, rationale=rationale, concordant=concordant,
                                    user=user, deviation=deviation, deviation_text=deviation_text,
                                    participants=people))
    out.print(f"decision {d.id} recorded for case {d.case_id} (assessment {d.assessment_id}, "
              f"{'concordant' if d.concordant else 'not concordant: ' + (d.deviation_code or '')})")
