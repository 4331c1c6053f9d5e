"""The command line: outputs, and bad input rejected with exit 2, a field path and no traceback."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "01-sync-low-rectal-resectable.json"


def mcrc(*args, stdin: str | None = None):
    return subprocess.run([sys.executable, "-m", "mcrc.cli", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


def good() -> dict:
    return json.loads(EXAMPLE.read_text())


def test_recommend_text_shows_goal_strategies_and_citations():
    r = mcrc("recommend", str(EXAMPLE))
    assert r.returncode == 0, r.stderr
    assert "Goal" in r.stdout and "Strategies" in r.stdout
    assert "ccs-lung-2019 Table 2" in r.stdout


def test_recommend_json_from_stdin_has_codes_labels_citations():
    r = mcrc("recommend", "-", "--format", "json", stdin=EXAMPLE.read_text())
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["schema_id"] == "mcrc.assessment/1"
    items = doc["warnings"] + doc["tests"] + doc["prognosis"] + [doc["goal"]]
    assert items and all({"code", "label", "citations"} <= set(i) and i["citations"] for i in items)
    assert doc["trace"], "the JSON output carries the trace by default"


def test_recommend_markdown():
    r = mcrc("recommend", str(EXAMPLE), "-f", "md")
    assert r.returncode == 0
    assert r.stdout.startswith("# Patient ")
    assert "## Strategies" in r.stdout and "1. " in r.stdout


def test_schema_is_json_schema_of_patient():
    r = mcrc("schema")
    doc = json.loads(r.stdout)
    assert doc["title"] == "Patient"
    assert "metastases" in doc["properties"]


def test_vocab_kb_and_kb_show():
    assert "resect_lung_metastases" in mcrc("vocab", "-s", "actions").stdout
    listing = mcrc("kb").stdout
    assert "lung.route.table2_rectal_advanced" in listing
    shown = mcrc("kb", "show", "lung.route.table2_rectal_advanced")
    assert shown.returncode == 0
    assert "cite: ccs-lung-2019 Table 2" in shown.stdout
    assert "rectal_height = middle_lower" in shown.stdout


def test_kb_show_unknown_row_suggests():
    r = mcrc("kb", "show", "lung.route.table2_rectal_advance")
    assert r.returncode == 2
    assert "did you mean lung.route.table2_rectal_advanced" in r.stderr


def _with(path: str, value):
    data = good()
    node = data
    keys = path.split(".")
    for k in keys[:-1]:
        node = node[int(k)] if k.isdigit() else node[k]
    node[int(keys[-1]) if keys[-1].isdigit() else keys[-1]] = value
    return json.dumps(data)


BAD = [
    pytest.param("{ not json", "line 1 column 3: malformed JSON", id="malformed-json"),
    pytest.param("[1, 2]", "expected a JSON object, got list", id="not-an-object"),
    pytest.param(_with("age", "sixty"), "age: expected a whole number, got the text 'sixty'",
                 id="wrong-type"),
    pytest.param(_with("ecog", 7), "ecog: Input should be less than or equal to 4 (got 7)", id="ecog-7"),
    pytest.param(_with("metastases.0.largest_size.value", -3), "metastases[0].largest_size.value: Input should be "
                 "greater than 0 (got -3)", id="negative-size"),
    pytest.param(_with("metastases.0.largest_size.unit", "inch"), "metastases[0].largest_size.unit: 'inch' is not "
                 "an allowed value (allowed: 'mm' or 'cm')", id="bad-unit"),
    pytest.param(_with("primary.distance_from_anal_verge_cm", 31), "primary.distance_from_anal_verge_cm: Input "
                 "should be less than or equal to 30 (got 31)", id="distance-over-30"),
    pytest.param(_with("metastases.0.found", "2099-01-01"), "metastases[0].found: date 2099-01-01 is in the future",
                 id="future-date"),
    pytest.param(_with("treatment_history.courses", [{"setting": "palliative", "regimen": "FOLFAX"}]),
                 "treatment_history.courses[0].regimen: unknown regimen code 'FOLFAX'", id="unknown-regimen"),
    pytest.param(_with("metastases.0.organ", "spleen"), "metastases[0].organ: 'spleen' is not an allowed value",
                 id="unknown-organ"),
    pytest.param(_with("primary.colour", "red"), "primary.colour: unknown field", id="unknown-field"),
    pytest.param(_with("metastases.0.pci", 12), "metastases[0]: pci apply only to peritoneum lesions (organ is lung)",
                 id="pci-on-lung"),
    pytest.param(_with("metastases", [{"organ": "peritoneum", "pci": 40}]),
                 "metastases[0].pci: Input should be less than or equal to 39 (got 40)", id="pci-over-39"),
    pytest.param(_with("metastases", [{"organ": "liver", "multifocal_stage": "middle"}]),
                 "metastases[0].multifocal_stage: 'middle' is not an allowed value", id="bad-multifocal-stage"),
    pytest.param(_with("metastases", [{"organ": "lung", "major_resection_needed": True}]),
                 "metastases[0]: major_resection_needed apply only to liver lesions (organ is lung)",
                 id="liver-field-on-lung"),
    pytest.param(_with("biomarkers.kras_variant", "G12C"), "biomarkers: kras_variant G12C is given but kras is "
                 "wild_type", id="variant-without-mutation"),
    pytest.param(_with("biomarkers.her2_ihc_score", "3+"), "her2_ihc_score 3+ contradicts her2 negative",
                 id="her2-contradiction"),
    pytest.param(_with("biomarkers.ctdna", {"ras": "absent"}), "biomarkers.ctdna.ras: 'absent' is not an allowed",
                 id="bad-ctdna"),
    pytest.param(_with("region", "atlantis"), "region: 'atlantis' is not an allowed value", id="unknown-region"),
    pytest.param(_with("tumour_burden", "huge"), "tumour_burden: 'huge' is not an allowed value", id="bad-burden"),
    pytest.param(_with("fitness.adequate_organ_function", "yes please"), "fitness.adequate_organ_function: expected "
                 "true or false, got the text 'yes please'", id="bad-bool"),
    pytest.param(_with("primary.emergency", "bleeding").replace('"in_place"', '"resected"'),
                 "primary: a resected primary cannot have an emergency complication", id="contradiction"),
]


@pytest.mark.parametrize(("payload", "message"), BAD)
def test_bad_input_exits_2_with_field_path_and_no_traceback(payload, message):
    r = mcrc("recommend", "-", stdin=payload)
    assert r.returncode == 2, r.stdout
    assert message in r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert r.stdout == ""


def test_missing_file_exits_2():
    r = mcrc("recommend", "no/such/file.json")
    assert r.returncode == 2
    assert "no such file" in r.stderr
    assert "Traceback" not in r.stderr


def test_missing_fields_are_not_bad_input():
    r = mcrc("recommend", "-", "-f", "json", stdin="{}")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["scope"]["status"] == "refer_mdt"


def test_demo_assesses_every_example():
    r = mcrc("demo", "examples")
    assert r.returncode == 0, r.stderr
    n = len(list((ROOT / "examples").glob("*.json")))
    assert f"assessed {n} of {n} sample cases" in r.stdout


def test_recommend_reads_a_fhir_bundle():
    bundle = ROOT / "examples" / "fhir" / "01-sync-rectal-lung-mets.json"
    r = mcrc("recommend", str(bundle), "--fhir", "-f", "json", "--no-trace")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["facts"]["lung_mets"] is True and doc["facts"]["primary_site"] == "rectum"
    bad = mcrc("recommend", "-", "--fhir", stdin='{"resourceType": "Bundle", "type": "collection", "entry": 5}')
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
