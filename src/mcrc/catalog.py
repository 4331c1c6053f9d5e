"""The fact catalog: every fact the rules may read, its finite domain, and where it comes from.

Kinds: `enum` (a closed list of strings), `bool`, `int` and `number` (bounded ranges). `None` is
the first-class *unknown*. A derived fact names the definition (knowledge/data/definitions.yaml)
it implements; an observed fact names the Patient field it is read from.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["enum", "bool", "int", "number"]


@dataclass(frozen=True)
class FactSpec:
    name: str
    kind: Kind
    doc: str
    values: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    source: str = ""  # Patient field path, for observed facts
    definition: str | None = None  # definitions.yaml id, for derived facts

    def allowed(self) -> str:
        if self.kind == "enum":
            return ", ".join(self.values)
        if self.kind == "bool":
            return "true, false"
        return f"{self.kind} {self.low:g}..{self.high:g}"

    def accepts(self, value) -> bool:
        if self.kind == "enum":
            return isinstance(value, str) and value in self.values
        if self.kind == "bool":
            return isinstance(value, bool)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.kind == "int" and not isinstance(value, int):
            return False
        return self.low <= value <= self.high


RESECT = ("resectable", "potentially_resectable", "unresectable")
# Drug classes whose history is derived (mcrc.facts.history); kept here so the catalog has no import of it.
HISTORY_CLASSES = ("fluoropyrimidine", "oxaliplatin", "irinotecan", "anti_egfr", "anti_vegf", "multikinase_inhibitor",
                   "thymidine_analogue", "checkpoint_inhibitor", "braf_inhibitor", "her2_directed",
                   "kras_g12c_inhibitor", "trk_inhibitor", "ret_inhibitor", "vegfr_inhibitor")
INTOLERANCE_CLASSES = ("fluoropyrimidine", "oxaliplatin", "irinotecan")
# The irinotecan regimens given before resection of metastases that the lung consensus lets continue after it
PREOP_IRINOTECAN_REGIMENS = ("FOLFIRI", "CAPIRI", "IRIS", "FOLFIRI_BEV", "FOLFIRI_CETUXIMAB", "FOLFIRI_PANITUMUMAB",
                             "FOLFOXIRI", "FOLFIRINOX", "FOLFOXIRI_BEV", "FOLFOXIRI_CETUXIMAB", "FOLFOXIRI_PANITUMUMAB",
                             "other")
_CLASS_LABELS = {"fluoropyrimidine": "A fluoropyrimidine", "oxaliplatin": "Oxaliplatin", "irinotecan": "Irinotecan",
                 "anti_egfr": "An anti-EGFR antibody", "anti_vegf": "An anti-VEGF agent",
                 "multikinase_inhibitor": "Regorafenib (multikinase inhibitor)",
                 "thymidine_analogue": "Trifluridine-tipiracil", "checkpoint_inhibitor": "A checkpoint inhibitor",
                 "braf_inhibitor": "A BRAF inhibitor", "her2_directed": "A HER2-directed drug",
                 "kras_g12c_inhibitor": "A KRAS G12C inhibitor", "trk_inhibitor": "A TRK inhibitor",
                 "ret_inhibitor": "A RET inhibitor", "vegfr_inhibitor": "Fruquintinib (VEGFR inhibitor)"}


def _f(name, kind, doc, values=(), low=None, high=None, source="", definition=None) -> FactSpec:
    return FactSpec(name, kind, doc, tuple(values), low, high, source, definition)


CATALOG: tuple[FactSpec, ...] = (
    # patient
    _f("age", "int", "Age in years", low=18, high=110, source="age"),
    _f("sex", "enum", "Sex", ("female", "male"), source="sex"),
    _f("ecog", "int", "ECOG performance status", low=0, high=4, source="ecog"),
    _f("cea_ng_ml", "number", "Serum CEA (ng/mL)", low=0, high=100000, source="cea_ng_ml"),
    # primary
    _f("primary_location", "enum", "Location of the primary",
       ("caecum", "ascending_colon", "hepatic_flexure", "transverse_colon", "splenic_flexure",
        "descending_colon", "sigmoid_colon", "rectosigmoid", "rectum", "right_colon", "left_colon"),
       source="primary.location"),
    _f("primary_site", "enum", "Colon or rectum", ("colon", "rectum"), definition="sidedness"),
    _f("sidedness", "enum", "Side of the primary", ("right", "left"), definition="sidedness"),
    _f("rectal_distance_cm", "number", "Distance of a rectal primary from the anal verge (cm)", low=0, high=30,
       source="primary.distance_from_anal_verge_cm"),
    _f("rectal_height", "enum", "Height of a rectal primary", ("upper", "middle_lower"),
       definition="rectal_height"),
    _f("ct", "enum", "Clinical T category of the primary", ("T1", "T2", "T3", "T4"), source="primary.ct"),
    _f("cn", "enum", "Clinical N category of the primary", ("N0", "N1", "N2"), source="primary.cn"),
    _f("locally_advanced", "bool", "Primary is cT3-4 or N+", definition="locally_advanced"),
    # primary: inputs of decision record 0035 (rectal third, pathological TNM)
    _f("rectal_third", "enum", "Third of the rectum the primary lies in, as reported", ("upper", "middle", "lower"),
       source="primary.rectal_third"),
    _f("pt", "enum", "Pathological T category of the resected primary (pT, or ypT after neoadjuvant therapy)",
       ("T0", "Tis", "T1", "T2", "T3", "T4"), source="primary.pt, primary.ypt"),
    _f("pn", "enum", "Pathological N category of the resected primary (pN, or ypN after neoadjuvant therapy)",
       ("N0", "N1", "N2"), source="primary.pn, primary.ypn"),
    _f("pathological_after_neoadjuvant", "bool", "The pathological stage was taken after neoadjuvant therapy (yp)",
       source="primary.ypt, primary.ypn"),
    _f("pathological_advanced", "bool", "Pathological stage of the resected primary is pT3-4 or pN+ (ypT3-4 or "
       "ypN+); false for a primary in place (no specimen)", definition="pathological_advanced"),
    _f("primary_status", "enum", "State of the primary", ("in_place", "resected", "local_recurrence"),
       source="primary.status"),
    _f("primary_resectability", "enum", "MDT judgement of the primary or local recurrence", RESECT,
       source="primary.resectability"),
    _f("emergency", "enum", "Emergency complication of the primary or local recurrence",
       ("bleeding", "obstruction", "impending_obstruction", "perforation", "none"), source="primary.emergency"),
    # metastases
    _f("metastases_recorded", "bool", "The metastatic sites have been recorded", source="metastases"),
    _f("metastatic", "bool", "At least one distant metastasis recorded", source="metastases"),
    _f("metastatic_organ_count", "int", "Number of organs with metastases (lung included)", low=0, high=12,
       source="metastases"),
    _f("metastatic_lesion_count", "int", "Number of metastatic lesions, all sites", low=0, high=2000,
       source="metastases[].count"),
    _f("metastases_unresectable", "bool", "At least one metastatic site judged unresectable",
       definition="resectability_worst"),
    _f("lung_mets", "bool", "Lung metastases present", source="metastases[organ=lung]"),
    _f("lung_met_count", "int", "Number of lung metastases", low=0, high=500, source="metastases[organ=lung].count"),
    _f("lung_bilateral", "bool", "Lung metastases in both lungs", source="metastases[organ=lung].bilateral"),
    _f("lung_largest_mm", "number", "Largest lung metastasis (mm)", low=0, high=500,
       source="metastases[organ=lung].largest_size"),
    _f("lung_zone", "enum", "Zone of a single lung metastasis", ("outer", "middle", "inner", "perivascular"),
       source="metastases[organ=lung].zone"),
    _f("lung_nodes", "bool", "Hilar/mediastinal lymph node metastases suspected",
       source="metastases[organ=lung].hilar_mediastinal_nodes"),
    _f("lymphangitic", "bool", "Lymphangitic carcinomatosis", source="metastases[organ=lung].lymphangitic"),
    _f("lung_symptomatic", "bool", "Lung metastases cause symptoms", source="metastases[organ=lung].symptomatic"),
    _f("lung_resectability", "enum", "MDT judgement of the lung metastases", RESECT,
       definition="resectability_worst"),
    _f("lung_timing", "enum", "Synchronous or metachronous lung metastases", ("synchronous", "metachronous"),
       definition="lung_timing"),
    _f("lung_initial", "bool", "The lung is the first site of distant metastasis", definition="lung_initial"),
    _f("lung_indeterminate", "bool", "Nature of lung or other lesions indeterminate on imaging",
       source="metastases[].nature_indeterminate"),
    _f("extrapulmonary_sites", "int", "Number of metastatic organs other than the lung", low=0, high=10,
       source="metastases[organ!=lung]"),
    _f("liver_mets", "bool", "Liver metastases present", source="metastases[organ=liver]"),
    _f("liver_met_count", "int", "Number of liver metastases", low=0, high=500,
       source="metastases[organ=liver].count"),
    _f("liver_resectability", "enum", "MDT judgement of the liver metastases ('none' when there are none)",
       (*RESECT, "none"), definition="resectability_worst"),
    _f("liver_largest_mm", "number", "Largest liver metastasis (mm)", low=0, high=500,
       source="metastases[organ=liver].largest_size"),
    _f("liver_only", "bool", "Liver metastases and no other distant site", source="metastases"),
    _f("liver_dominant", "bool", "Liver-only, or liver metastases with at most a few small lung nodules and one small "
       "nodal area", definition="liver_dominant"),
    _f("extrahepatic_disease", "bool", "Distant metastases outside the liver", source="metastases"),
    _f("liver_timing", "enum", "Synchronous or metachronous liver metastases", ("synchronous", "metachronous"),
       definition="liver_timing"),
    _f("liver_major_resection", "bool", "Liver metastases need a major hepatectomy",
       source="metastases[organ=liver].major_resection_needed"),
    _f("liver_small_accessible", "bool", "Liver metastases small and easily accessible",
       source="metastases[organ=liver].small_and_accessible"),
    _f("liver_multifocal_stage", "enum", "Multifocal liver-dominant disease, early or late stage", ("early", "late"),
       source="metastases[organ=liver].multifocal_stage"),
    _f("prior_liver_resection", "bool", "Liver metastases resected before", source="treatment_history.procedures"),
    _f("liver_recurrence_after_resection", "bool", "Liver metastases found after an earlier liver resection",
       definition="liver_recurrence"),
    _f("liver_resection_margin", "enum", "Worst margin of a liver resection ('none': no resection done)",
       ("R0", "R1", "R2", "none"), source="treatment_history.procedures"),
    _f("peritoneal_mets", "bool", "Peritoneal metastases present", source="metastases[organ=peritoneum]"),
    _f("peritoneum_only", "bool", "Peritoneal metastases and no other distant site", source="metastases"),
    _f("pci", "int", "Peritoneal Cancer Index", low=0, high=39, source="metastases[organ=peritoneum].pci"),
    _f("p_category", "enum", "Japanese peritoneal category", ("P1", "P2", "P3"),
       source="metastases[organ=peritoneum].p_category"),
    _f("peritoneal_resectability", "enum", "MDT judgement of the peritoneal metastases ('none' when there are none)",
       (*RESECT, "none"), definition="resectability_worst"),
    _f("extrapulmonary_resectability", "enum", "MDT judgement of the metastases outside the lung ('none' when "
       "there are none)", (*RESECT, "none"), definition="resectability_worst"),
    _f("pelvic_implant", "bool", "Pelvic implantation metastases present", source="metastases[organ=pelvic_implant]"),
    _f("isolated_lung", "bool", "Lung metastases without extrapulmonary metastases", definition="isolated_lung"),
    _f("oligometastatic", "bool", "At most one metastatic site besides the lung", definition="oligometastatic"),
    _f("dfi_months", "int", "Disease-free interval (months)", low=0, high=600, definition="dfi"),
    _f("bone_pain", "bool", "Symptoms suggesting bone metastases", source="symptoms.bone_pain"),
    # biology
    _f("kras", "enum", "KRAS status", ("wild_type", "mutant"), source="biomarkers.kras"),
    _f("nras", "enum", "NRAS status", ("wild_type", "mutant"), source="biomarkers.nras"),
    _f("ras", "enum", "RAS status (KRAS and NRAS)", ("wild_type", "mutant"), definition="ras"),
    _f("braf", "enum", "BRAF status", ("wild_type", "v600e", "non_v600e"), source="biomarkers.braf"),
    _f("mmr_status", "enum", "Mismatch repair / microsatellite status", ("dmmr_msi_h", "pmmr_mss"),
       definition="mmr_status"),
    _f("her2", "enum", "HER2 status", ("positive", "negative"), source="biomarkers.her2"),
    _f("her2_ihc_3plus", "bool", "HER2 immunohistochemistry 3+", source="biomarkers.her2_ihc_score"),
    _f("her2_method", "enum", "How HER2 was assessed", ("ihc", "ish", "ngs"), source="biomarkers.her2_method"),
    _f("kras_g12c", "bool", "KRAS G12C mutation", source="biomarkers.kras, biomarkers.kras_variant"),
    _f("ntrk_fusion", "bool", "NTRK gene fusion documented", source="biomarkers.ntrk_fusion"),
    _f("ret_fusion", "bool", "RET gene fusion documented", source="biomarkers.ret_fusion"),
    _f("ctdna_known", "bool", "ctDNA results for RAS, BRAF and EGFR recorded", source="biomarkers.ctdna"),
    _f("ctdna_clear", "bool", "ctDNA free of RAS, BRAF and EGFR resistance mutations", definition="ctdna_clear"),
    _f("ctdna_tissue_ras_discordant", "bool", "ctDNA shows a RAS mutation the tissue (RAS wild-type) did not, "
       "before any anti-EGFR therapy", definition="ctdna_discordance"),
    _f("molecular_specimen", "enum", "Material of the molecular results", ("primary", "metastasis", "liquid_biopsy"),
       source="biomarkers.specimen"),
    # treatment history
    _f("systemic_history_known", "bool", "The systemic therapy history has been recorded",
       source="treatment_history.courses"),
    _f("neoadjuvant_given", "bool", "Any preoperative (perioperative or conversion) therapy of the metastases given",
       source="treatment_history.courses"),
    _f("neoadjuvant_progression", "bool", "Progression on the latest preoperative (perioperative or conversion) "
       "course, not since answered by a response to salvage therapy", definition="preoperative_progression"),
    _f("preop_progression_ever", "bool", "Progression on any preoperative (perioperative or conversion) course",
       definition="preoperative_progression"),
    _f("preop_irinotecan_effective", "bool", "A preoperative irinotecan-based regimen was effective",
       source="treatment_history.courses"),
    _f("preop_irinotecan_regimen", "enum", "The irinotecan regimen that worked before surgery, to be continued after "
       "it ('other': a regimen outside this list, or drugs matching no regimen code)", PREOP_IRINOTECAN_REGIMENS,
       source="treatment_history.courses"),
    _f("preoperative_months_given", "int", "Months of preoperative therapy of the current metastases already given "
       "(perioperative and conversion courses since the latest local treatment of metastases)", low=0, high=60,
       source="treatment_history.courses"),
    *(_f(f"{klass}_exposed", "bool", f"{_CLASS_LABELS[klass]} received before (any intent)",
         source="treatment_history.courses") for klass in HISTORY_CLASSES),
    *(_f(f"{klass}_refractory", "bool", f"Progression on {_CLASS_LABELS[klass].lower()} or within 3 months of its "
         "last dose (6 after adjuvant therapy)", definition="refractory") for klass in HISTORY_CLASSES),
    *(_f(f"{klass}_intolerant", "bool", f"{_CLASS_LABELS[klass]} stopped for toxicity without progression",
         definition="intolerant") for klass in INTOLERANCE_CLASSES),
    *(_f(f"{klass}_failed", "bool", f"{_CLASS_LABELS[klass]} has failed (refractory or not tolerated)",
         definition="drug_failure") for klass in INTOLERANCE_CLASSES),
    _f("adjuvant_oxaliplatin_failure_12m", "bool", "Relapse during adjuvant oxaliplatin or within 12 months of its "
       "end", definition="oxaliplatin_failure_12m"),
    _f("lines_received", "int", "Lines of therapy for metastatic disease received (conversion and palliative lines, "
       "an adjuvant course followed by early relapse)", low=0, high=10, definition="lines_of_therapy"),
    _f("lines_failed", "int", "Lines for metastatic disease that ended in progression", low=0, high=10,
       definition="lines_of_therapy"),
    _f("first_chemotherapy_line", "bool", "A first chemotherapy line for metastatic disease is due (no line held a "
       "cytotoxic drug, and none is working now)", definition="lines_of_therapy"),
    _f("progressing", "bool", "The disease progressed on or after the latest course for metastatic disease",
       definition="progressing"),
    _f("controlled_on_chemotherapy", "bool", "Responding or stable on the current course for at least 3 months, "
       "within 3 lines", definition="disease_control"),
    _f("objective_response", "bool", "Complete or partial response on the current course",
       definition="disease_control"),
    _f("conversion_response", "bool", "The latest course for metastatic disease was conversion therapy that worked "
       "(response, or stopped for the planned surgery) without progression", definition="conversion_response"),
    _f("anti_egfr_benefit", "bool", "Objective response, or stable disease for at least 6 months, on earlier "
       "anti-EGFR therapy", definition="anti_egfr_rechallenge"),
    _f("anti_egfr_free_since", "bool", "The latest course for metastatic disease had no anti-EGFR antibody",
       definition="anti_egfr_rechallenge"),
    _f("ctdna_after_anti_egfr", "bool", "The ctDNA result was taken after the last anti-EGFR course",
       definition="anti_egfr_rechallenge"),
    _f("lung_resection_margin", "enum", "Worst margin of a lung metastasis resection ('none': no resection done)",
       ("R0", "R1", "R2", "none"),
       source="treatment_history.procedures"),
    _f("lung_lobectomy_done", "bool", "A lobectomy was done for lung metastases",
       source="treatment_history.procedures"),
    _f("prior_pelvic_radiotherapy", "bool", "Pelvic radiotherapy given before", source="treatment_history.procedures"),
    _f("ned", "bool", "No evidence of disease reached after local treatment", source="ned, ned_date"),
    # fitness and wishes
    _f("fit_for_intensive_therapy", "bool", "Fit for intensive (combination) chemotherapy in the MDT's judgement "
       "(CONVENTIONS D3); triplets also need age and burden",
       source="fitness.fit_for_intensive_therapy"),
    _f("organ_function_adequate", "bool", "Organ function adequate for further systemic therapy",
       source="fitness.adequate_organ_function"),
    _f("tumour_burden", "enum", "Tumour burden (MDT judgement)", ("low", "high"), source="tumour_burden"),
    _f("region", "enum", "Where the patient is treated",
       ("japan", "korea", "china", "other_asia", "europe", "north_america", "other"), source="region"),
    _f("fit_for_surgery", "bool", "Fit for surgery (site, lung function, tolerance)", source="fitness.fit_for_surgery"),
    _f("declines_surgery", "bool", "Patient declines surgery of the metastases", source="preferences.declines_surgery"),
    _f("wishes_organ_preservation", "bool", "Patient wants the rectum preserved and refuses rectal resection",
       source="preferences.wishes_organ_preservation"),
    # patient context (decision record 0035)
    _f("hereditary_syndrome", "enum", "Known hereditary cancer syndrome (never a substitute for the tumour's MMR/MSI "
       "result)", ("lynch", "other", "none"), source="hereditary_syndrome"),
    _f("second_primary_cancer", "enum", "Another primary cancer besides the colorectal one",
       ("active", "recent", "remote", "none"), source="second_primary_cancer"),
    # individual lesions, bilobar and disappearing liver metastases, complete response (decision record 0036)
    _f("lung_lesions_resectable", "enum", "Lung lesions listed one by one that the MDT judges suitable for "
       "resection: all, some (others unsuitable, e.g. by position) or none", ("all", "some", "none"),
       definition="lesion_suitability"),
    _f("liver_lesions_resectable", "enum", "Liver lesions listed one by one that the MDT judges suitable for "
       "resection: all, some or none (descriptive)", ("all", "some", "none"), definition="lesion_suitability"),
    _f("liver_bilobar", "bool", "Liver metastases in both liver lobes (descriptive)", definition="bilobar"),
    _f("liver_disappeared_count", "int", "Liver metastases that disappeared on imaging during chemotherapy",
       low=0, high=500, definition="disappearing_liver_metastases"),
    _f("liver_complete_response", "bool", "Every liver metastasis shows a complete response on imaging after "
       "treatment", definition="site_complete_response"),
    _f("lung_complete_response", "bool", "Every lung metastasis shows a complete response on imaging after "
       "treatment", definition="site_complete_response"),
    _f("all_sites_complete_response", "bool", "Every metastatic site shows a complete response on imaging after "
       "treatment", definition="site_complete_response"),
)

FACTS: dict[str, FactSpec] = {spec.name: spec for spec in CATALOG}
