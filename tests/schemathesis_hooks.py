"""Schemathesis check for the mcrc API: a schema-valid request may be refused only for a rule JSON Schema cannot state.

`schemathesis.toml` lets positive (schema-valid) requests get 400, 412 and 422 because some rules cannot be written
in a JSON Schema. This check makes that exception exact: such an answer must name only those rules, else it fails
as "the OpenAPI description could have refused this". Loaded by tests/test_schemathesis.py and, for the CLI, with
SCHEMATHESIS_HOOKS=tests.schemathesis_hooks (from the repository root).
"""

from __future__ import annotations

import re

import schemathesis

# Patient rules no JSON Schema keyword can state (mcrc.patient): a date compared with today or with another date;
# drugs named as not tolerated that the course's regimen does not contain; two lines running at once.
DATE_RULES = re.compile(r"is in the future|is before (started|the date of diagnosis)|were not given in this course"
                        r"|are all ongoing: one line of therapy"
                        # lesions listed one by one against their site (decision record 0036): a count or a size
                        # compared with the list (sizes in either unit), disappeared lesions or a complete response
                        # compared with the count, a site's response against the latest course for metastatic disease,
                        # and a single listed lesion's zone and the listed sides against the site's zone and
                        # bilateral/bilobar (statable, but the generator cannot draw from the schema with them;
                        # mcrc.patient.sites._lesion_rules)
                        r"|but lesions lists \d+: the list gives every lesion|is larger than largest_size"
                        r"|zone is \w+ but lesions\[0\]\.zone is"
                        r"|(bilateral|bilobar) is (false|true) but (lesions lists lesions on the left and on the right"
                        r"|every lesion listed is on the)"
                        r"|but the largest of the lesions listed measures|is more than the site's lesions"
                        r"|complete_response is (true|false) but (disappeared_count|all \d+ lesions)"
                        r"|complete_response is false but the latest course")
# What the strict JSON reader refuses inside a FHIR resource (FHIR strings allow no C0 controls; R4B integers are
# 32-bit): the Bundle body describes only the Bundle's frame, the resources are as the FHIR specification says.
READER_RULES = re.compile(r"control character|digits is beyond|too large to represent")
FHIR_PATH = "/api/v1/fhir/assess"


def _reason(status: int, body: dict, path: str) -> str | None:
    """None when the refusal is one of the allowed kinds, else why it is not."""
    if status == 412:
        return None if body.get("type", "").endswith("/precondition-failed") else "412 that is not a stale If-Match"
    kind = body.get("type", "").rsplit("/", 1)[-1]
    messages = [e.get("message", "") for e in body.get("errors") or []]
    if path == FHIR_PATH and kind == "invalid-fhir":
        return None  # FHIR R4B validation of the resources (the specification is the schema)
    if path == FHIR_PATH and kind == "malformed-json" and messages and all(READER_RULES.search(m) for m in messages):
        return None
    if kind == "invalid-input" and messages and all(DATE_RULES.search(m) for m in messages):
        return None
    return f"{status} {kind}: {'; '.join(messages) or body.get('detail')}"


@schemathesis.check
def refusals_name_rules_json_schema_cannot_state(ctx, response, case):
    """A schema-valid request answered 400, 412 or 422 must be refused for a rule the schema cannot state."""
    meta = getattr(case, "meta", None)
    if meta is None or not meta.generation.mode.is_positive or response.status_code not in (400, 412, 422):
        return None
    try:
        body = response.json()
    except ValueError:
        body = {}
    reason = _reason(response.status_code, body if isinstance(body, dict) else {}, case.path)
    if reason is not None:
        raise AssertionError(f"schema-valid request refused for a reason the OpenAPI description could state: "
                             f"{reason}")
    return None
