"""Write a Patient as an mCODE STU4 Bundle that `read_bundle` reads back to the same Patient (decision 0041).

`patient_bundle` is the reader's counterpart, used by the round-trip tests (every example: JSON -> Bundle ->
Patient) and to make the sample Bundles of examples/fhir/. It writes each element the way the reader documents
it (docs/fhir-codes.md): standard codes (mCODE, Genomics Reporting, SNOMED CT, LOINC, RxNorm) wherever one says
the element exactly, and mcrc's own code system and extensions (mcrc.fhir.read_mcrc, read_history) for what has
none. It never adds a fact the Patient does not hold: an unknown element is left out, and "none given" is a List
with emptyReason nilknown. It is not a general EHR export (no narrative, no identifiers, no practitioners).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from mcrc.fhir import read as rd
from mcrc.fhir.read_history import HISTORY_LISTS, NO_AGENTS, RADIOTHERAPY_COURSE, RT_SITES, TERMINATION
from mcrc.fhir.read_mcrc import EXT, LESION_COMPONENTS, PATIENT_CS, REGIMEN_CS, VALUE_CS, element
from mcrc.patient import Patient

MCODE = rd.MCODE
_SITE_SNOMED = {v: k for k, v in rd.PRIMARY_SITES.items()}
_SITE_ICD = {v: k for k, v in rd.PRIMARY_ICD10.items()}
_ORGAN_SNOMED = {v: k for k, v in rd.METASTASIS_SITES.items()}
_ORGAN_ICD = {"lung": "C78.00", "liver": "C78.7", "peritoneum": "C78.6", "bone": "C79.51", "brain": "C79.31",
              "adrenal": "C79.70", "ovary": "C79.60", "distant_lymph_nodes": "C77.9"}
_RT_SITE = {v: k for k, v in RT_SITES.items()}
_DRUG_RXNORM = {v: k for k, v in rd.RXNORM_DRUGS.items()}
# mCODE TreatmentTerminationReasonVS (the only codes a stopped medication may give); "progression" adds mcrc's word
# beside "no response to treatment", mCODE's general code for stopping an ineffective treatment
_STOP = {"completed": ("182992009", "Treatment completed"), "progression": ("266721009", "No response to treatment"),
         "toxicity": ("407563006", "Treatment not tolerated"),
         "patient_choice": ("105480006", "Refusal of treatment by patient")}
_INTENT_SNOMED = {"palliative": ("363676003", "Palliative - procedure intent"),
                  "adjuvant": ("373846009", "Adjuvant - intent")}
_MSI = {v: k for k, v in rd.MSI_ANSWERS.items()}
_GENE = {"KRAS": "HGNC:6407", "NRAS": "HGNC:7989", "BRAF": "HGNC:1097"}
_KRAS_AA = {"G12C": "p.Gly12Cys", "G12D": "p.Gly12Asp", "G12V": "p.Gly12Val", "G13D": "p.Gly13Asp"}
_LIST_CODE = {key: code for code, key in HISTORY_LISTS.items()}


def _cc(system: str, code: str, display: str | None = None) -> dict[str, Any]:
    coding = {"system": system, "code": code}
    if display:
        coding["display"] = display
    return {"coding": [coding]}


def _word(word: str) -> dict[str, Any]:
    return _cc(VALUE_CS, str(word))


def _value(kind: str, value: Any) -> dict[str, Any]:
    if kind == "bool":
        return {"valueBoolean": value}
    if kind == "int":
        return {"valueInteger": value}
    if kind == "date":
        return {"valueDateTime": value.isoformat()}
    if kind == "size":
        return {"valueQuantity": {"value": value.value, "unit": value.unit, "system": "http://unitsofmeasure.org",
                                  "code": value.unit}}
    if kind == "float":
        return {"valueQuantity": {"value": value, "unit": "cm", "system": "http://unitsofmeasure.org", "code": "cm"}}
    return {"valueCodeableConcept": _word(value)}


class _Builder:
    def __init__(self, patient: Patient, today: dt.date):
        self.p = patient
        self.today = today
        self.pid = patient.id or "patient"
        self.entries: list[dict[str, Any]] = []
        self.n = 0

    def add(self, resource: dict[str, Any]) -> str:
        self.n += 1
        resource.setdefault("id", f"{self.pid[:40]}-{self.n}".replace("_", "-"))
        if resource["resourceType"] != "Patient":
            resource.setdefault("subject", {"reference": f"Patient/{self.pid}"})
        self.entries.append({"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource})
        return f"{resource['resourceType']}/{resource['id']}"

    def observation(self, code: dict[str, Any], **fields: Any) -> str:
        return self.add({"resourceType": "Observation", "status": "final", "code": code, **fields})

    def mdt(self, path: str, value: Any, focus: str | None = None) -> None:
        spec = element(path)
        assert spec is not None, path
        fields = _value(spec[0], value)
        if focus:
            fields["focus"] = [{"reference": focus}]
        self.observation({**_cc(PATIENT_CS, path), "text": f"mcrc-patient {path}"}, **fields)

    # ---------------------------------------------------------------------------------------------------------
    def build(self) -> dict[str, Any]:
        p = self.p
        patient: dict[str, Any] = {"resourceType": "Patient", "id": self.pid,
                                   "meta": {"profile": [MCODE + "mcode-cancer-patient"]}}
        if p.age is not None:  # the birthday is today: the age read back on this day is exact
            try:
                patient["birthDate"] = self.today.replace(year=self.today.year - p.age).isoformat()
            except ValueError:  # 29 February
                patient["birthDate"] = (self.today.replace(day=28, year=self.today.year - p.age)).isoformat()
        if p.sex:
            patient["gender"] = p.sex
        self.add(patient)
        primary_ref = self.primary()
        self.metastases()
        if p.ecog is not None:
            self.observation(_cc(rd.LOINC, rd.LOINC_ECOG), valueInteger=p.ecog,
                             meta={"profile": [MCODE + "mcode-ecog-performance-status"]})
        if p.cea_ng_ml is not None:
            self.observation(_cc(rd.LOINC, rd.LOINC_CEA), meta={"profile": [MCODE + "mcode-tumor-marker-test"]},
                             valueQuantity={"value": p.cea_ng_ml, "unit": "ng/mL",
                                            "system": "http://unitsofmeasure.org", "code": "ng/mL"})
        self.biomarkers()
        self.history(primary_ref)
        self.context()
        return {"resourceType": "Bundle", "type": "collection", "entry": self.entries}

    def primary(self) -> str | None:
        pr = self.p.primary
        if pr is None:
            return None
        ref = None
        if pr.location:
            cond: dict[str, Any] = {"resourceType": "Condition",
                                    "meta": {"profile": [MCODE + "mcode-primary-cancer-condition"]},
                                    "clinicalStatus": _cc("http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                          "active"),
                                    "code": _cc(rd.ICD10[0], _SITE_ICD.get(pr.location, "C18.9")),
                                    "bodySite": [_cc(rd.SNOMED, _SITE_SNOMED[pr.location])]}
            if pr.diagnosed:
                cond["onsetDateTime"] = pr.diagnosed.isoformat()
            ref = self.add(cond)
        elif pr.diagnosed:
            raise ValueError("a primary's date of diagnosis without its site cannot be written")
        for key, loinc, prefix in (("ct", rd.LOINC_CT, "c"), ("cn", rd.LOINC_CN, "c"), ("pt", rd.LOINC_PT, "p"),
                                   ("pn", rd.LOINC_PN, "p"), ("ypt", rd.LOINC_PT, "yp"), ("ypn", rd.LOINC_PN, "yp")):
            value = getattr(pr, key)
            if value is not None:
                self.observation(_cc(rd.LOINC, loinc), valueCodeableConcept={"text": prefix + value},
                                 **({"focus": [{"reference": ref}]} if ref else {}))
        for name in ("distance_from_anal_verge_cm", "rectal_third", "status", "resectability", "emergency"):
            value = getattr(pr, name)
            if value is None:
                continue
            if name == "status" and value == "resected":
                continue  # said by the primary resection (a Procedure) when there is one; else below
            self.mdt(f"primary.{name}", value, ref)
        resections = [x for x in (self.p.treatment_history.procedures or [])
                      if x.kind == "primary_resection"] if self.p.treatment_history else []
        if pr.status == "resected" and not resections:
            self.mdt("primary.status", "resected", ref)
        latest = max((x.date for x in resections if x.date), default=None)
        if pr.resected_on and pr.resected_on != latest:
            self.mdt("primary.resected_on", pr.resected_on, ref)
        return ref

    def metastases(self) -> None:
        for site in self.p.metastases or []:
            cond: dict[str, Any] = {"resourceType": "Condition",
                                    "meta": {"profile": [MCODE + "mcode-secondary-cancer-condition"]},
                                    "clinicalStatus": _cc("http://terminology.hl7.org/CodeSystem/condition-clinical",
                                                          "active")}
            if site.organ in _ORGAN_SNOMED:
                cond["code"] = _cc(rd.ICD10[0], _ORGAN_ICD[site.organ])
                cond["bodySite"] = [_cc(rd.SNOMED, _ORGAN_SNOMED[site.organ])]
            else:
                cond["code"] = {"text": "Secondary malignant neoplasm"}
                cond["bodySite"] = [_word(site.organ)]
            if site.found:
                cond["onsetDateTime"] = site.found.isoformat()
            ref = self.add(cond)
            for name in type(site).model_fields:
                value = getattr(site, name)
                if name in ("organ", "found", "lesions") or value is None:
                    continue
                self.mdt(f"metastases.{name}", value, ref)
            for lesion in site.lesions or []:
                comps = []
                for name in LESION_COMPONENTS:
                    value = getattr(lesion, name)
                    if value is None:
                        continue
                    kind = "size" if name == "size" else "bool" if name == "suitable_for_resection" else "word"
                    comps.append({"code": _cc(PATIENT_CS, name), **_value(kind, value)})
                fields: dict[str, Any] = {"focus": [{"reference": ref}]}
                if comps:
                    fields["component"] = comps
                self.observation({**_cc(PATIENT_CS, "metastases.lesions"), "text": "mcrc-patient metastases.lesions"},
                                 **fields)

    def biomarkers(self) -> None:
        b = self.p.biomarkers
        if b is None:
            return
        done = set()
        genomic = {"meta": {"profile": [MCODE + "mcode-genomic-variant"]}}
        for gene in ("KRAS", "NRAS", "BRAF"):
            status = getattr(b, gene.lower())
            if status is None:
                continue
            comps = [{"code": _cc(rd.LOINC, rd.LOINC_GENE_STUDIED),
                      "valueCodeableConcept": _cc(rd.HGNC, _GENE[gene], gene)}]
            if status == "wild_type":
                answer = rd.ABSENT
            elif gene == "BRAF" and status != "v600e":
                continue  # which non-V600E variant is not recorded: said by the project code below
            else:
                answer = rd.PRESENT
                aa = "p.Val600Glu" if gene == "BRAF" else _KRAS_AA.get(b.kras_variant or "") if gene == "KRAS" \
                    else None
                if aa:
                    comps.append({"code": _cc(rd.LOINC, rd.LOINC_AA_CHANGE), "valueCodeableConcept": {"text": aa}})
                    if gene == "KRAS":
                        done.add("kras_variant")
            done.add(gene.lower())
            self.observation(_cc(rd.LOINC, rd.LOINC_VARIANT), valueCodeableConcept=_cc(rd.LOINC, answer),
                             component=comps, **genomic)
        if b.msi is not None:
            self.observation(_cc(rd.LOINC, rd.LOINC_MSI), valueCodeableConcept=_cc(rd.LOINC, _MSI[b.msi]))
            done.add("msi")
        if b.mmr is not None:
            self.observation({"text": "Mismatch repair status"}, valueCodeableConcept={"text": b.mmr})
            done.add("mmr")
        for name in type(b).model_fields:
            value = getattr(b, name)
            if value is None or name in done:
                continue
            if name == "ctdna":
                for sub in type(value).model_fields:
                    if getattr(value, sub) is not None:
                        self.mdt(f"biomarkers.ctdna.{sub}", getattr(value, sub))
                continue
            self.mdt(f"biomarkers.{name}", value)

    def history(self, primary_ref: str | None) -> None:
        h = self.p.treatment_history
        if h is None:
            return
        reason = {"reasonReference": [{"reference": primary_ref}]} if primary_ref else {}
        for i, course in enumerate(h.courses or []):
            ext: list[dict[str, Any]] = [{"url": f"{EXT}mcrc-course", "valueString": f"course-{i + 1}"}]
            intent = _INTENT_SNOMED.get(course.intent)
            ext.append({"url": rd.INTENT_EXT, "valueCodeableConcept":
                        _cc(rd.SNOMED, *intent) if intent else _word(course.intent)})
            if course.regimen:
                ext.append({"url": f"{EXT}mcrc-regimen", "valueCodeableConcept": _cc(REGIMEN_CS, course.regimen)})
            if course.line is not None:
                ext.append({"url": f"{EXT}mcrc-line", "valuePositiveInt": course.line})
            if course.cycles is not None:
                ext.append({"url": f"{EXT}mcrc-cycles", "valuePositiveInt": course.cycles})
            if course.best_response:
                ext.append({"url": f"{EXT}mcrc-best-response", "valueCodeableConcept": _word(course.best_response)})
            if course.progression_date:
                ext.append({"url": f"{EXT}mcrc-progression-date",
                            "valueDate": course.progression_date.isoformat()})
            drugs = course.drug_codes()
            base: dict[str, Any] = {"resourceType": "MedicationAdministration",
                                    "meta": {"profile": [MCODE + "mcode-cancer-related-medication-administration"]},
                                    **reason}
            stop = course.stop_reason
            base["status"] = ("in-progress" if stop == "ongoing" else "stopped" if stop in _STOP
                              else "completed")
            if stop in _STOP:
                reason_cc = _cc(rd.SNOMED, *_STOP[stop])
                if stop == "progression":
                    reason_cc["coding"].append({"system": VALUE_CS, "code": stop})
                base["statusReason"] = [reason_cc]
            elif stop in ("planned_surgery", "other"):
                base["statusReason"] = [_word(stop)]
            period = {k: getattr(course, a).isoformat() for k, a in (("start", "started"), ("end", "ended"))
                      if getattr(course, a)}
            if period:
                base["effectivePeriod"] = period
            else:  # an administration needs its date (effective[x] 1..1); a statement may leave it out
                base["resourceType"] = "MedicationStatement"
                base["meta"] = {"profile": [MCODE + "mcode-cancer-related-medication-statement"]}
                base["status"] = {"in-progress": "active"}.get(base["status"], base["status"])
            members = list(drugs) if drugs is not None else [None]
            for drug in members:
                res = dict(base, extension=list(ext))
                if drug is None:
                    res["medicationCodeableConcept"] = {**_word(NO_AGENTS),
                                                        "text": "Systemic therapy, agents not recorded"}
                else:  # RxNorm where checked (docs/fhir-codes.md), else the name the reader recognises
                    cc = _cc(rd.RXNORM, _DRUG_RXNORM[drug]) if drug in _DRUG_RXNORM else {}
                    res["medicationCodeableConcept"] = {**cc, "text": drug.replace("_", " ")}
                    if course.toxicity_drugs and drug in course.toxicity_drugs:
                        res["extension"] = [*ext, {"url": f"{EXT}mcrc-not-tolerated", "valueBoolean": True}]
                self.add(res)
        for rt in h.radiotherapy or []:
            res = {"resourceType": "Procedure", "meta": {"profile": [MCODE + "mcode-radiotherapy-course-summary"]},
                   "status": "completed", "code": _cc(rd.SNOMED, RADIOTHERAPY_COURSE),
                   "extension": [{"url": f"{EXT}mcrc-radiotherapy-kind", "valueCodeableConcept": _word(rt.kind)}],
                   "bodySite": [_cc(rd.SNOMED, _RT_SITE[rt.site]) if rt.site in _RT_SITE else _word(rt.site)],
                   **reason}
            period = {k: getattr(rt, a).isoformat() for k, a in (("start", "started"), ("end", "ended"))
                      if getattr(rt, a)}
            if period:
                res["performedPeriod"] = period
            self.add(res)
        for proc in h.procedures or []:
            res = {"resourceType": "Procedure",
                   "meta": {"profile": [MCODE + "mcode-cancer-related-surgical-procedure"]}, "status": "completed",
                   "code": {**_word(proc.kind), "text": proc.kind.replace("_", " ")}, **reason}
            if proc.date:
                res["performedDateTime"] = proc.date.isoformat()
            if proc.margin:
                res["extension"] = [{"url": f"{EXT}mcrc-resection-margin", "valueCodeableConcept": _word(proc.margin)}]
            self.add(res)
        for key in ("courses", "radiotherapy", "procedures"):
            items = getattr(h, key)
            if items is None:
                continue
            system, code = _LIST_CODE[key]
            listed: dict[str, Any] = {"resourceType": "List", "status": "current", "mode": "snapshot",
                                      "code": _cc(system, code)}
            if not items:
                listed["emptyReason"] = _cc("http://terminology.hl7.org/CodeSystem/list-empty-reason", "nilknown")
            else:
                kinds = {"courses": ("MedicationAdministration", "MedicationStatement"), "radiotherapy": ("Procedure",),
                         "procedures": ("Procedure",)}[key]
                listed["entry"] = [{"item": {"reference": f"{e['resource']['resourceType']}/{e['resource']['id']}"}}
                                   for e in self.entries if e["resource"]["resourceType"] in kinds
                                   and _list_member(key, e["resource"])]
            self.add(listed)

    def context(self) -> None:
        p = self.p
        if p.hereditary_syndrome == "lynch":
            self.add({"resourceType": "Condition", "code": _cc(rd.SNOMED, rd.SNOMED_LYNCH)})
        elif p.hereditary_syndrome:
            self.mdt("hereditary_syndrome", p.hereditary_syndrome)
        for name in ("second_primary_cancer", "tumour_burden", "region", "ned", "ned_date"):
            if getattr(p, name) is not None:
                self.mdt(name, getattr(p, name))
        for group in ("fitness", "preferences", "symptoms"):
            model = getattr(p, group)
            for name in type(model).model_fields if model else ():
                if getattr(model, name) is not None:
                    self.mdt(f"{group}.{name}", getattr(model, name))


def _list_member(key: str, res: dict[str, Any]) -> bool:
    is_rt = any(c.get("code") == RADIOTHERAPY_COURSE for c in res.get("code", {}).get("coding", []))
    return key == "courses" or (key == "radiotherapy") == is_rt


def patient_bundle(patient: Patient, today: dt.date | None = None) -> dict[str, Any]:
    """An mCODE STU4 collection Bundle holding what `patient` holds (see the module's description); reading it
    with `read_bundle(bundle, today=today)` gives the same Patient. `today` fixes the birth date written for the
    age (the birthday falls on that day)."""
    return _Builder(patient, today or dt.date.today()).build()


__all__ = ["TERMINATION", "patient_bundle"]
