"""The new-case form in clinical words (issue 20 item 6, decision record 0040): every field labelled from LABELS
(no label made from a field name such as "CT" or "Ras"), rows numbered from 1, each organ's fields marked and shown
only on its rows, and validation messages in the form's words with the allowed values or range."""

from __future__ import annotations

import re

import pytest

from mcrc.patient import LIVER_LESION_FIELDS, LIVER_ONLY_FIELDS, LUNG_ONLY_FIELDS, PERITONEUM_ONLY_FIELDS
from mcrc.web import form as pform
from tests.test_web import _csrf, _friendly_form, _validate, coo, env  # noqa: F401 - fixtures


def _all(specs):
    for s in specs:
        yield s
        yield from _all(s.children)


def test_every_field_has_a_clinical_label():
    keys = {s.key for s in _all(pform.SPEC)}
    assert keys == set(pform.LABELS), keys ^ set(pform.LABELS)
    labels = {s.label for s in _all(pform.SPEC)}
    assert not labels & {"CT", "CN", "Ras", "PT", "PN", "YpT", "YpN", "CtDNA", "CEA ng mL", "Count", "Value"}
    for s in _all(pform.SPEC):
        if s.kind == "repeat":
            assert s.row_label and s.row_label != s.label


def test_organ_fields_are_those_the_patient_model_restricts():
    marked = {s.key: s.organs for s in _all(pform.SPEC) if s.organs}
    assert marked == {**{f"metastases.{f}": ("lung",) for f in LUNG_ONLY_FIELDS},
                      **{f"metastases.{f}": ("liver",) for f in LIVER_ONLY_FIELDS + LIVER_LESION_FIELDS},
                      **{f"metastases.{f}": ("peritoneum",) for f in PERITONEUM_ONLY_FIELDS},
                      "metastases.lesions.zone": ("lung",), "metastases.lesions.side": ("lung", "liver")}


@pytest.mark.parametrize(("organ", "shown", "hidden"), [
    ("lung", {"zone", "lymphangitic", "hilar_mediastinal_nodes"}, {"pci", "p_category", "bilobar", "multifocal_stage"}),
    ("liver", {"bilobar", "multifocal_stage", "disappeared_count"}, {"zone", "pci", "lymphangitic"}),
    ("peritoneum", {"pci", "p_category"}, {"zone", "bilobar", "major_resection_needed"}),
    ("bone", set(), {"zone", "pci", "bilobar"}),
])
def test_a_row_shows_its_organs_fields_only(coo, organ, shown, hidden):  # noqa: F811
    csrf = _csrf(coo.get("/cases/new").text)
    text = _friendly_form(coo.post("/cases", data={"csrf_token": csrf, "age": "5", "metastases[0].organ": organ,
                                                   "metastases[1].organ": "liver"}))
    assert re.search(r'<legend>Metastatic site <span class="row-no">1</span></legend>', text)
    assert re.search(r'<legend>Metastatic site <span class="row-no">2</span></legend>', text)
    for name in shown:
        assert re.search(rf'<div class="field" data-path="metastases\[0\]\.{name}" data-organs="{organ}">', text), name
    for name in hidden:
        assert re.search(rf'<div class="field organ-hidden" data-path="metastases\[0\]\.{name}" data-organs=', text), \
            name


@pytest.mark.parametrize(("fields", "where", "text"), [
    ({"age": "150"}, "Age (years)", "must be from 18 to 110 (got 150)"),
    ({"age": "old"}, "Age (years)", "must be a whole number from 18 to 110; got the text 'old'"),
    ({"metastases[0].organ": "peritoneum", "metastases[0].pci": "40"},
     "Metastatic site 1 › Peritoneal Cancer Index (PCI)", "must be from 0 to 39 (got 40)"),
    ({"metastases[0].organ": "liver", "metastases[0].pci": "4"}, "Metastatic site 1",
     "Peritoneal Cancer Index (PCI) belongs only to peritoneum sites; this row is liver: clear it or change the organ"),
    ({"metastases[0].organ": "lung", "metastases[0].largest_size.value": "0", "metastases[0].largest_size.unit": "mm"},
     "Metastatic site 1 › Largest lesion: size", "must be more than 0 and at most 500 (got 0)"),
    ({"sex": "x"}, "Sex", "'x' is not one of the choices; choose one of: female, male"),
    ({"primary.location": "sigmoid_colon", "primary.distance_from_anal_verge_cm": "5"}, "Primary tumour",
     "Distance from the anal verge (cm) applies only to a rectal primary"),
])
def test_validation_messages_are_in_the_forms_words(coo, fields, where, text):  # noqa: F811
    body = _validate(coo, fields)
    assert body["problem"]["errors"]  # the API's own problem is kept as it is
    assert len(body["messages"]) == len(body["problem"]["errors"])
    assert any(m["where"] == where and m["text"].startswith(text) for m in body["messages"]), body["messages"]
