"""Hashes of the audit chain and the FHIR R4 AuditEvent export (plain dicts).

entry_hash = sha256 of the canonical JSON of the entry's fields (seq, recorded, user, role,
action, entity, entity id, before and after hash) together with the previous entry's hash.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any, NamedTuple

from mcrc.errors import Problem
from mcrc.store.errors import StoreInvalid

FHIR_ACTION = {"create": "C", "import": "C", "read": "R", "update": "U", "delete": "D", "execute": "E",
               "revoke": "U", "deactivate": "U", "sign_out": "E", "upgrade": "U", "confirm": "C"}
_REST = {"C": "create", "R": "read", "U": "update", "D": "delete", "E": "operation"}


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256(obj: Any) -> str:
    return hashlib.sha256(canonical(obj).encode("utf-8")).hexdigest()


def utc_text(t: dt.datetime) -> str:
    """One spelling of an instant on both backends (SQLite hands back naive UTC)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(*, seq: int, recorded: dt.datetime, user_name: str, user_role: str, action: str, entity: str,
               entity_id: str, before_hash: str | None, after_hash: str | None, prev_hash: str) -> str:
    return sha256({
        "seq": seq, "recorded": utc_text(recorded), "user": user_name, "role": user_role, "action": action,
        "entity": entity, "entity_id": entity_id, "before": before_hash, "after": after_hash, "prev": prev_hash,
    })


class Anchor(NamedTuple):
    """A head of the chain kept outside the database: the log must still hold entry `seq` with this hash."""

    seq: int
    entry_hash: str
    recorded: str
    where: str  # where it was kept, e.g. "heads.txt line 3"


# One line per head, as `mcrc audit head` prints it and `--append` keeps it: plain text a person can read, copy
# into the MDT minutes, or keep in an append-only file.
_ANCHOR = re.compile(r"mcrc-audit-head seq=(\d+) entry_hash=([0-9a-f]{64}) recorded=(\S+)")
ANCHOR_FORM = "mcrc-audit-head seq=N entry_hash=(64 hex digits) recorded=TIME"


def anchor_line(seq: int, entry_hash: str, recorded: str | None) -> str:
    return f"mcrc-audit-head seq={seq} entry_hash={entry_hash} recorded={recorded or '-'}"


def parse_anchors(text: str, source: str) -> list[Anchor]:
    """Every head kept in an anchor file (blank lines and `#` comments skipped). StoreInvalid names each line that
    is not a head, and an empty file: checking against nothing would pass for a check."""
    anchors, problems = [], []
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        m = _ANCHOR.fullmatch(line)
        if m is None:
            problems.append(Problem(f"{source} line {n}", "is not a head written by `mcrc audit head`", ANCHOR_FORM))
        else:
            anchors.append(Anchor(int(m[1]), m[2], m[3], f"{source} line {n}"))
    if not anchors and not problems:
        problems.append(Problem(source, "holds no head (`mcrc audit head --append FILE` writes one)"))
    if problems:
        raise StoreInvalid(problems)
    return anchors


def fhir_action(action: str) -> str:
    """`case.update` -> `U`."""
    return FHIR_ACTION.get(action.rsplit(".", 1)[-1], "E")


def to_audit_event(e) -> dict[str, Any]:
    """One audit entry as a FHIR R4 AuditEvent (in the manner of IHE Basic Audit Log Patterns)."""
    code = fhir_action(e.action)
    details = [{"type": "action", "valueString": e.action}, {"type": "entry_hash", "valueString": e.entry_hash},
               {"type": "prev_hash", "valueString": e.prev_hash}]
    details += [{"type": k, "valueString": v} for k, v in (("before_hash", e.before_hash),
                                                         ("after_hash", e.after_hash)) if v]
    return {
        "resourceType": "AuditEvent",
        "id": f"mcrc-audit-{e.seq}",
        "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-event-type", "code": "rest",
                 "display": "RESTful Operation"},
        "subtype": [{"system": "http://hl7.org/fhir/restful-interaction", "code": _REST[code]}],
        "action": code,
        "recorded": utc_text(e.recorded),
        "outcome": "0",
        "agent": [{
            "who": {"identifier": {"system": "urn:mcrc:user", "value": e.user_name}, "display": e.user_name},
            "role": [{"text": e.user_role}],
            "requestor": True,
        }],
        "source": {"observer": {"display": "mcrc case store"}},
        "entity": [{
            "what": {"identifier": {"system": f"urn:mcrc:{e.entity}", "value": e.entity_id},
                     "display": f"{e.entity} {e.entity_id}"},
            "type": {"system": "http://terminology.hl7.org/CodeSystem/audit-entity-type", "code": "2",
                     "display": "System Object"},
            "detail": details,
        }],
    }


def audit_bundle(entries) -> dict[str, Any]:
    events = [to_audit_event(e) for e in entries]
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:mcrc:audit:{ev['id']}", "resource": ev} for ev in events]}
