"""`mcrc verify`: it passes on the real knowledge base, catches planted defects with a counterexample
patient, and its symbolic reading of the rules agrees with the engine on generated patients."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
import z3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mcrc
from mcrc.errors import McrcError
from mcrc.facts import derive_facts
from mcrc.knowledge import default_data_dir, load_knowledge_dir
from mcrc.patient import parse_patient
from mcrc.verify import verify
from mcrc.verify.checks import Verifier
from mcrc.verify.constraints import violated_constraints

ROOT = Path(__file__).parent.parent
KB = mcrc.load_knowledge()


def test_real_knowledge_base_verifies():
    report = verify(KB)
    assert report.ok, [(f.check, f.subject) for f in report.failures]
    names = {r.name for r in report.results}
    assert names == {"consistency of facts", "overlap (unique tables and goals)", "reachability", "completeness",
                     "safety invariants", "presumptions", "traceability", "current standard"}
    assert report.questions > 500


def test_cli_verify_json_and_exit_code():
    r = subprocess.run([sys.executable, "-m", "mcrc.cli", "verify", "--format", "json"], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["ok"] is True and doc["failures"] == []


# --- mutation test: planted defects are caught with a counterexample ---------------------------

def mutated(tmp_path: Path, file: str, edit) -> Path:
    root = tmp_path / "kb"
    shutil.copytree(default_data_dir(), root)
    path = root / file
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return root


def row(data: dict, row_id: str) -> dict:
    for t in data["tables"]:
        for r in t["rows"]:
            if r["id"] == row_id:
                return r
    raise KeyError(row_id)


def table(data: dict, table_id: str) -> dict:
    return next(t for t in data["tables"] if t["id"] == table_id)


def drop_ras(data):
    del row(data, "palliative.systemic.first_line_cetuximab")["when"]["ras"]


def widen_size_threshold(data):
    row(data, "liver.route.single_small_primary_resected")["when"]["liver_largest_mm"] = {"lt": 30}


def delete_fallback(data):
    t = table(data, "lung.route")
    t["rows"] = [r for r in t["rows"] if not r.get("default")]


def local_lung_in_lymphangitic(data):
    del table(data, "lung.local")["applies"]["lymphangitic"]


def drop_age_threshold_from_triplet(data):
    when = row(data, "palliative.systemic.first_line_triplet")["when"]
    assert "age" in when
    del when["age"]


def drop(row_id: str, key: str):
    """Remove one condition from a row (a guard the invariant relies on)."""
    def edit(data):
        when = row(data, row_id)["when"]
        assert key in when, (row_id, key)
        del when[key]
    return edit


def drop_caveat(rule_id: str):
    def edit(data):
        assert any(c["id"] == rule_id for c in data["caveats"])
        data["caveats"] = [c for c in data["caveats"] if c["id"] != rule_id]
    return edit


def drop_row(row_id: str):
    def edit(data):
        for t in data["tables"]:
            t["rows"] = [r for r in t["rows"] if r["id"] != row_id]
    return edit


def reverse_rechallenge_guard(data):
    """The guard as it was before issue 16: anti-EGFR unless ctDNA is mutant (unknown ctDNA let it through)."""
    when = row(data, "palliative.systemic.after_oxaliplatin_ras_wild_type")["when"]
    when["any"] = [{"anti_egfr_exposed": False}, {"ctdna_clear": True}, {"ctdna_clear": {"known": False}}]


PALLIATIVE, EVIDENCE, LIVER = ("tables/30-cvir-2019-palliative.yaml", "tables/50-evidence-2025.yaml",
                               "tables/20-liver-sync-meta.yaml")
# Issue 16: every treatment-history invariant, each shown to catch the removal of what upholds it.
HISTORY_MUTATIONS = [
    pytest.param("tables/40-cancers-2022-rectal.yaml", drop("rectal.liver.esmo_resectable_regimens",
                 "oxaliplatin_failed"), "safety", "no_oxaliplatin_after_failure",
                 id="folfox-after-oxaliplatin-failure"),
    pytest.param("tables/10-ccs-lung-2019.yaml",
                 drop("lung.systemic.continue_irinotecan.folfiri", "irinotecan_refractory"), "safety",
                 "no_irinotecan_when_refractory", id="irinotecan-when-refractory"),
    pytest.param(PALLIATIVE, drop("palliative.systemic.checkpoint_dmmr", "checkpoint_inhibitor_refractory"), "safety",
                 "no_checkpoint_inhibitor_again", id="checkpoint-after-checkpoint-progression"),
    pytest.param(EVIDENCE, drop("evidence.systemic.braf_v600e_after_one_or_two", "braf_inhibitor_refractory"),
                 "safety", "no_braf_inhibitor_when_refractory", id="braf-inhibitor-when-refractory"),
    pytest.param(EVIDENCE, drop("evidence.systemic.kras_g12c_refractory", "kras_g12c_inhibitor_refractory"),
                 "safety", "no_kras_g12c_inhibitor_when_refractory", id="g12c-inhibitor-when-refractory"),
    pytest.param(EVIDENCE, drop("evidence.systemic.ntrk_fusion", "trk_inhibitor_refractory"), "safety",
                 "no_trk_inhibitor_when_refractory", id="trk-inhibitor-when-refractory"),
    pytest.param(EVIDENCE, drop("evidence.systemic.ret_fusion", "ret_inhibitor_refractory"), "safety",
                 "no_ret_inhibitor_when_refractory", id="ret-inhibitor-when-refractory"),
    pytest.param(PALLIATIVE, drop("palliative.systemic.after_both_later_agents", "multikinase_inhibitor_refractory"),
                 "safety", "no_regorafenib_when_refractory", id="regorafenib-when-refractory"),
    pytest.param(PALLIATIVE, drop("palliative.systemic.after_both_trifluridine_tipiracil",
                                  "thymidine_analogue_refractory"),
                 "safety", "no_trifluridine_tipiracil_when_refractory", id="trifluridine-when-refractory"),
    pytest.param(EVIDENCE, drop("evidence.systemic.fresco_2", "vegfr_inhibitor_refractory"), "safety",
                 "no_fruquintinib_when_refractory", id="fruquintinib-when-refractory"),
    pytest.param(EVIDENCE, drop("evidence.systemic.fresco_2", "fluoropyrimidine_failed"), "safety",
                 "later_line_agents_after_ox_and_iri", id="fruquintinib-before-fluoropyrimidine-failure"),
    pytest.param(PALLIATIVE, reverse_rechallenge_guard, "safety", "anti_egfr_rechallenge_only_with_clear_ctdna",
                 id="anti-egfr-after-progression-without-ctdna"),
    pytest.param("caveats.yaml", drop_caveat("anti_egfr_rechallenge"), "safety", "anti_egfr_rechallenge_labelled",
                 id="rechallenge-without-its-label"),
    pytest.param(PALLIATIVE, drop("palliative.systemic.first_line_cetuximab", "braf"), "safety",
                 "no_anti_egfr_without_braf_inhibitor_for_v600e", id="anti-egfr-doublet-for-v600e"),
    pytest.param("caveats.yaml", drop_caveat("anti_egfr_right_sided"), "safety", "anti_egfr_right_sided_caveat",
                 id="right-sided-anti-egfr-without-caveat"),
    pytest.param(PALLIATIVE, drop("palliative.liver.hai_first_line", "liver_dominant"), "safety",
                 "hai_only_liver_dominant", id="hai-with-extrahepatic-disease"),
    pytest.param("caveats.yaml", drop_caveat("combination_unfit"), "safety", "combination_unfit_caveat",
                 id="combination-for-the-unfit-without-caveat"),
    pytest.param(PALLIATIVE, drop_row("palliative.systemic.first_line_unfit"), "safety",
                 "unfit_first_line_de_escalated", id="no-de-escalated-option-for-the-unfit"),
]

def offer_zanzalintinib(data):
    """A pending drug planted among the later-line regimens (evidence-2026 item 6: no US decision confirmed)."""
    then = row(data, "palliative.systemic.after_both_later_agents")["then"]
    then["regimens"] = [*then["regimens"], "ZANZALINTINIB_ATEZOLIZUMAB"]


def transmet_after_progression(data):
    when = row(data, "evidence.liver.transmet")["when"]
    del when["controlled_on_chemotherapy"], when["progressing"]


# evidence-2026 (decision record 0032): its two invariants, each shown to catch the removal of what upholds it
EVIDENCE_2026_MUTATIONS = [
    pytest.param(PALLIATIVE, offer_zanzalintinib, "safety", "no_drug_awaiting_us_decision",
                 id="zanzalintinib-offered"),
    pytest.param(EVIDENCE, transmet_after_progression, "safety", "transplant_only_when_controlled_on_chemotherapy",
                 id="transmet-without-disease-control"),
]

MUTATIONS = [
    pytest.param("tables/30-cvir-2019-palliative.yaml", drop_ras, "safety", "no_anti_egfr_unless_ras_wild_type",
                 id="drop-ras-condition-from-anti-egfr-row"),
    pytest.param("tables/20-liver-sync-meta.yaml", widen_size_threshold, "overlap", "liver.route.single_small",
                 id="widen-size-threshold-so-rows-overlap"),
    pytest.param("tables/10-ccs-lung-2019.yaml", delete_fallback, "completeness", "all patients",
                 id="delete-the-fallback-row"),
    pytest.param("tables/10-ccs-lung-2019.yaml", local_lung_in_lymphangitic, "safety", "no_local_lung_in_lymphangitic",
                 id="local-lung-treatment-in-lymphangitic-spread"),
]


@pytest.mark.parametrize(("file", "edit", "check", "subject"), MUTATIONS + HISTORY_MUTATIONS + EVIDENCE_2026_MUTATIONS)
def test_verify_catches_planted_defect(request, tmp_path, file, edit, check, subject):
    report = verify(load_knowledge_dir(mutated(tmp_path, file, edit)))
    hits = [f for f in report.failures if f.check == check and subject in f.subject]
    assert hits, [(f.check, f.subject) for f in report.failures]
    failure = hits[0]
    assert failure.facts, "a counterexample names the facts"
    assert failure.patient is not None
    patient = parse_patient(failure.patient)  # `mcrc recommend` accepts it
    if request.node.callspec.id in {p.id for p in HISTORY_MUTATIONS}:
        # the history is realised as schema-2 courses that re-derive every fact the counterexample states (a fact
        # it leaves unknown may not be expressible beside the others: a free line with unknown drugs, say)
        assert not set(failure.not_reproduced) & set(failure.facts), (failure.not_reproduced, failure.patient)
    if not failure.not_reproduced:
        facts = derive_facts(patient).values
        assert all(facts.get(k) == v for k, v in failure.facts.items())
    if check in ("safety", "overlap") and not failure.not_reproduced:
        with pytest.raises(McrcError):  # the engine refuses the very patient the verifier found
            mcrc.assess(patient, kb=load_knowledge_dir(mutated(tmp_path / "again", file, edit)))


def test_verify_catches_a_pending_trial_shown_as_differing(tmp_path):
    """STELLAR-303 awaits a US decision: shown with a `differs` (as if an option to weigh against the guidelines),
    the built-in check `pending_never_approved` fails (a regimen or a status without 'pending' is refused at load)."""
    def edit(data):
        item = row(data, "evidence.systemic.stellar_303")["then"]["evidence"][0]
        item["differs"] = "The guideline sources here name regorafenib; this trial beat it."

    report = verify(load_knowledge_dir(mutated(tmp_path, EVIDENCE, edit)))
    assert [f.subject for f in report.failures] == [
        "pending_never_approved: evidence.systemic.stellar_303 -> stellar_303"]


def test_age_threshold_mutation_changes_reachable_answers(tmp_path):
    """Widening the triplet's age window (removing the cap) lets an older patient receive a triplet:
    the verifier's symbolic reading must see that row fire for a 75-year-old."""
    v = Verifier(load_knowledge_dir(mutated(tmp_path, "tables/30-cvir-2019-palliative.yaml",
                                            drop_age_threshold_from_triplet)))
    r = v.kb.rows["palliative.systemic.first_line_triplet"]
    age = v.enc.vars["age"]
    assert v.sat(z3.And(v.fires(r), age.known, age.value == 75))
    v_real = Verifier(KB)
    age_real = v_real.enc.vars["age"]
    assert not v_real.sat(z3.And(v_real.fires(KB.rows[r.id]), age_real.known, age_real.value == 75))


HISTORY_FACT_PARTS = ("_exposed", "_refractory", "_failed", "_intolerant", "lines_", "progressing", "controlled",
                      "objective_response", "anti_egfr_", "first_chemotherapy_line", "neoadjuvant_", "preop_",
                      "adjuvant_oxaliplatin", "ctdna_tissue")


def test_counterexample_histories_are_realised_as_schema_2_courses():
    """For every row that reads the treatment history, the verifier's witness becomes a schema-2 patient whose
    courses re-derive each history fact the witness fixes (an unknown the record cannot express may differ)."""
    from mcrc.verify.realise import reproduce

    v = Verifier(KB)
    checked, wrong = 0, []
    for row in KB.rows.values():
        relevant = {f for f in v.relevant([row]) if any(part in f for part in HISTORY_FACT_PARTS)}
        if not relevant:
            continue
        facts = v.witness(v.fires(row))
        patient, mismatched = reproduce(facts, relevant)
        assert patient is not None, (row.id, mismatched)
        assert "setting" not in json.dumps(patient), "schema-1 courses"
        checked += 1
        wrong += [(row.id, f, facts[f]) for f in mismatched if facts.get(f) is not None]
    assert checked > 100
    assert wrong == []


# --- property-based: generated patients --------------------------------------------------------

RES = st.sampled_from(["resectable", "potentially_resectable", "unresectable"])


def maybe(strategy):
    return st.one_of(st.none(), strategy)


@st.composite
def lesions(draw):
    organ = draw(st.sampled_from(["lung", "liver", "peritoneum", "bone", "distant_lymph_nodes", "ovary"]))
    lesion = {"organ": organ, "count": draw(maybe(st.integers(1, 12))), "resectability": draw(maybe(RES)),
              "found": draw(maybe(st.sampled_from(["2024-01-10", "2025-03-01", "2026-06-01"]))),
              "largest_size": draw(maybe(st.builds(lambda v: {"value": v, "unit": "mm"}, st.integers(3, 60)))),
              "symptomatic": draw(maybe(st.booleans()))}
    if organ == "lung":
        lesion.update(lymphangitic=draw(maybe(st.booleans())), hilar_mediastinal_nodes=draw(maybe(st.booleans())),
                      bilateral=draw(maybe(st.booleans())),
                      zone=draw(maybe(st.sampled_from(["outer", "middle", "inner", "perivascular"]))),
                      timing=draw(maybe(st.sampled_from(["synchronous", "metachronous"]))))
    if organ == "liver":
        lesion.update(multifocal_stage=draw(maybe(st.sampled_from(["early", "late"]))),
                      major_resection_needed=draw(maybe(st.booleans())))
    if organ == "peritoneum":
        lesion.update(pci=draw(maybe(st.integers(0, 39))), p_category=draw(maybe(st.sampled_from(["P1", "P2", "P3"]))))
    return {k: v for k, v in lesion.items() if v is not None}


REGIMENS = ["FOLFOX", "CAPOX", "FOLFIRI", "FOLFOX_BEV", "FOLFIRI_CETUXIMAB", "FOLFOX_PANITUMUMAB", "FOLFOXIRI_BEV",
            "PEMBROLIZUMAB", "CAPECITABINE", "FU_LV_BEV", "REGORAFENIB", "TRIFLURIDINE_TIPIRACIL_BEV",
            "ENCORAFENIB_CETUXIMAB", "FRUQUINTINIB"]
DRUG_SETS = [["fluorouracil", "oxaliplatin"], ["capecitabine", "irinotecan", "bevacizumab"], ["cetuximab"],
             ["nivolumab", "ipilimumab"]]
DATES = ["2024-02-01", "2024-07-01", "2025-01-10", "2025-04-01", "2025-09-01", "2025-12-01", "2026-05-01"]


@st.composite
def courses(draw):
    """Schema-2 courses: any intent, a regimen or drugs or neither, dates, responses, stop reasons, toxicity."""
    out = []
    for _ in range(draw(st.integers(0, 4))):
        c: dict = {"intent": draw(st.sampled_from(["adjuvant", "neoadjuvant", "perioperative", "conversion",
                                                    "palliative", "maintenance"]))}
        agents = draw(st.sampled_from(["regimen", "regimen", "drugs", "none"]))
        if agents == "regimen":
            c["regimen"] = draw(st.sampled_from(REGIMENS))
        elif agents == "drugs":
            c["drugs"] = draw(st.sampled_from(DRUG_SETS))
        start = draw(maybe(st.sampled_from(DATES)))
        if start:
            c["started"] = start
        stop = draw(maybe(st.sampled_from(["completed", "progression", "toxicity", "patient_choice", "planned_surgery",
                                           "ongoing", "other"])))
        if stop:
            c["stop_reason"] = stop
        end = draw(maybe(st.sampled_from(DATES)))
        if end and stop != "ongoing" and (start is None or end >= start):
            c["ended"] = end
        response = draw(maybe(st.sampled_from(["complete", "partial", "response", "stable", "progression",
                                               "not_evaluated"])))
        if response:
            c["best_response"] = response
        prog = draw(maybe(st.sampled_from(DATES)))
        if prog and (start is None or prog >= start):
            c["progression_date"] = prog
        if stop == "toxicity" and agents == "drugs" and draw(st.booleans()):
            c["toxicity_drugs"] = c["drugs"][:1]
        out.append(c)
    ongoing = [c for c in out if c.get("stop_reason") == "ongoing" and c["intent"] in ("palliative", "maintenance",
                                                                                     "conversion")]
    for c in ongoing[1:]:  # one line runs at a time
        c["stop_reason"] = "completed"
    return out


@st.composite
def patients(draw):
    location = draw(maybe(st.sampled_from(["caecum", "transverse_colon", "sigmoid_colon", "rectosigmoid", "rectum"])))
    status = draw(maybe(st.sampled_from(["in_place", "resected", "local_recurrence"])))
    primary = {"location": location, "status": status,
               "ct": draw(maybe(st.sampled_from(["T1", "T2", "T3", "T4b"]))),
               "cn": draw(maybe(st.sampled_from(["N0", "N1", "N2"]))),
               "resectability": draw(maybe(RES)),
               "emergency": draw(maybe(st.sampled_from(["none", "bleeding", "obstruction", "impending_obstruction",
                                                         "perforation"]))) if status != "resected" else "none"}
    if location == "rectum":
        primary["distance_from_anal_verge_cm"] = draw(maybe(st.sampled_from([3, 8, 10, 11, 14])))
    if status == "resected":
        primary["resected_on"] = "2023-06-01"
    kras = draw(maybe(st.sampled_from(["wild_type", "mutant"])))
    bio = {"kras": kras, "nras": draw(maybe(st.sampled_from(["wild_type", "mutant"]))),
           "braf": draw(maybe(st.sampled_from(["wild_type", "v600e", "non_v600e"]))),
           "mmr": draw(maybe(st.sampled_from(["deficient", "proficient"]))),
           "her2": draw(maybe(st.sampled_from(["positive", "negative"]))),
           "ntrk_fusion": draw(maybe(st.booleans())),
           "kras_variant": draw(maybe(st.sampled_from(["G12C", "G12D"]))) if kras == "mutant" else None,
           "ctdna": draw(maybe(st.fixed_dictionaries({
               "ras": st.sampled_from(["wild_type", "mutant"]), "braf": st.sampled_from(["wild_type", "mutant"]),
               "egfr_ectodomain": st.sampled_from(["wild_type", "mutant"]),
               "date": st.sampled_from(DATES)})))}
    history = draw(maybe(courses()))
    patient = {
        "age": draw(maybe(st.integers(30, 90))), "ecog": draw(maybe(st.integers(0, 3))),
        "primary": {k: v for k, v in primary.items() if v is not None},
        "metastases": draw(maybe(st.lists(lesions(), max_size=3))),
        "biomarkers": {k: v for k, v in bio.items() if v is not None},
        "cea_ng_ml": draw(maybe(st.floats(0, 80, allow_nan=False))),
        "schema_version": "2",
        "treatment_history": None if history is None else {"courses": history, "procedures": [],
                                                           "radiotherapy": draw(maybe(st.just([])))},
        "fitness": {"fit_for_surgery": draw(maybe(st.booleans())),
                    "fit_for_intensive_therapy": draw(maybe(st.booleans()))},
        "preferences": {"declines_surgery": draw(maybe(st.booleans())),
                        "wishes_organ_preservation": draw(maybe(st.booleans()))},
        "tumour_burden": draw(maybe(st.sampled_from(["low", "high"]))),
        "region": draw(maybe(st.sampled_from(["japan", "europe"]))),
    }
    return {k: v for k, v in patient.items() if v is not None}


VERIFIER = Verifier(KB)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(patients())
def test_constraints_hold_for_every_real_patient(data):
    """The verifier only searches patients satisfying constraints.yaml: no real patient may break one."""
    facts = derive_facts(parse_patient(data))
    assert violated_constraints(KB, facts) == []


def test_first_chemotherapy_line_after_preoperative_folfox_and_early_progression():
    """Found by the property above: perioperative FOLFOX (no line), then a conversion line of regorafenib with
    progression two months after the last oxaliplatin dose. A first chemotherapy line is due, and oxaliplatin is
    refractory all the same (R1): the constraints must admit that patient, and the answer offers no oxaliplatin."""
    history = {"courses": [
        {"intent": "perioperative", "regimen": "FOLFOX", "best_response": "complete", "started": "2025-01-01",
         "ended": "2025-04-01", "stop_reason": "completed"},
        {"intent": "conversion", "regimen": "REGORAFENIB", "started": "2025-05-01", "ended": "2025-06-01",
         "stop_reason": "progression", "progression_date": "2025-06-01"}], "procedures": []}
    data = {"id": "found", "primary": {"location": "sigmoid_colon", "status": "resected"},
            "metastases": [{"organ": "liver", "count": 8, "resectability": "unresectable", "found": "2024-12-01"}],
            "biomarkers": {"kras": "wild_type", "nras": "wild_type", "braf": "wild_type", "mmr": "proficient"},
            "treatment_history": history}
    facts = derive_facts(parse_patient(data))
    assert facts.get("first_chemotherapy_line") is True and facts.get("oxaliplatin_refractory") is True
    assert violated_constraints(KB, facts) == []
    a = mcrc.assess(data)
    assert a.regimens and not any("oxaliplatin" in r.drug_classes for r in a.regimens)


@PROPERTY
@given(patients())
def test_symbolic_rules_agree_with_the_engine(data):
    """verify's translation fires exactly the rows the engine fires, for every generated patient."""
    facts = derive_facts(parse_patient(data))
    a = mcrc.assess(data)  # also: no SafetyViolation or HitPolicyViolation for any generated patient
    engine = set(a.fired_rows())
    solver = z3.Solver()
    solver.add(VERIFIER.enc.assignment(facts.values))
    assert solver.check() == z3.sat
    model = solver.model()
    symbolic = {rid for rid, r in KB.rows.items() if z3.is_true(model.eval(VERIFIER.fires(r), model_completion=True))}
    assert symbolic == engine
