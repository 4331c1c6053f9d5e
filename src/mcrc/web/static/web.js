/* mcrc web pages: validate-as-you-type for the patient form, repeated rows, the decision form.
   Plain JavaScript, no framework, no inline handlers (the Content-Security-Policy forbids them). */
(function () {
  "use strict";

  function debounce(fn, ms) {
    var timer = null;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  function csrfOf(form) {
    var el = form.querySelector('input[name="csrf_token"]');
    return el ? el.value : "";
  }

  /* The nearest message slot for a field path: the field itself, else its row or group. */
  function slotFor(form, path) {
    var p = path;
    while (p) {
      var el = form.querySelector('[data-err-for="' + CSS.escape(p) + '"]');
      if (el) return el;
      var m = p.match(/^(.*)(\.[^.[\]]+|\[\d+\])$/);
      p = m ? m[1] : "";
    }
    return null;
  }

  /* Rows are numbered from 1 in the order shown (field names keep their own indexes). */
  function renumber(rows) {
    var n = 0;
    rows.querySelectorAll(":scope > .row-item").forEach(function (r) {
      n += 1;
      var no = r.querySelector(":scope > legend .row-no");
      if (no) no.textContent = String(n);
    });
  }

  /* A metastatic site shows only its organ's fields (lung zone on lung rows, PCI on peritoneum rows...); a field of
     another organ is hidden and disabled, so it is not sent (decision record 0040). On opening the page a filled one
     stays shown: the server refused it next to its row, and it can be cleared there. */
  function syncOrgans(form, initial) {
    form.querySelectorAll("fieldset.row-item").forEach(function (row) {
      var m = row.getAttribute("data-path").match(/^metastases\[\d+\]$/);
      if (!m) return;
      var organ = row.querySelector('select[name="' + CSS.escape(m[0] + ".organ") + '"]');
      var value = organ ? organ.value : "";
      row.querySelectorAll("[data-organs]").forEach(function (el) {
        var show = el.getAttribute("data-organs").split(" ").indexOf(value) >= 0;
        if (initial && !show) {
          show = Array.prototype.some.call(el.querySelectorAll("input, select"), function (i) { return i.value !== ""; });
        }
        el.classList.toggle("organ-hidden", !show);
        el.querySelectorAll("input, select").forEach(function (input) { input.disabled = !show; });
      });
    });
  }

  function setupRepeat(form, fs) {
    var rows = fs.querySelector(":scope > .rows");
    var tpl = fs.querySelector(":scope > template.row-template");
    var state = fs.querySelector(":scope > .list-state select");
    function sync() {
      var none = state.value === "none";
      rows.querySelectorAll("input, select, button").forEach(function (el) { el.disabled = none; });
      rows.hidden = none;
    }
    fs.querySelector(":scope > .add-row").addEventListener("click", function () {
      var next = 0;
      rows.querySelectorAll(":scope > .row-item").forEach(function (r) {
        var m = r.getAttribute("data-path").match(/\[(\d+)\]$/);
        if (m) next = Math.max(next, Number(m[1]) + 1);
      });
      // only this group's placeholder is filled: rows nested in the new row keep theirs (__j__) for their own button
      rows.insertAdjacentHTML("beforeend", tpl.innerHTML.split(fs.getAttribute("data-index") || "__i__").join(String(next)));
      rows.lastElementChild.querySelectorAll("fieldset.repeat").forEach(function (inner) { setupRepeat(form, inner); });
      state.value = "";
      sync();
      renumber(rows);
      syncOrgans(form);
      form.dispatchEvent(new Event("input", { bubbles: true }));
    });
    rows.addEventListener("click", function (ev) {
      if (ev.target.classList.contains("remove-row")) {
        ev.target.closest(".row-item").remove();
        renumber(rows);
        form.dispatchEvent(new Event("input", { bubbles: true }));
      }
    });
    state.addEventListener("change", sync);
    sync();
  }

  function setupPatientForm(form) {
    var url = form.getAttribute("data-validate");
    var summary = document.getElementById("problems");
    var validity = document.getElementById("validity");
    var jsonBox = document.getElementById("patient-json");
    var jsonMode = document.getElementById("json-mode");
    var seq = 0;

    function clear() {
      form.querySelectorAll(".err").forEach(function (e) { e.textContent = ""; });
      form.querySelectorAll(".invalid").forEach(function (e) { e.classList.remove("invalid"); });
      summary.textContent = "";
    }

    function show(problem, words) {
      clear();
      if (!problem) {
        validity.textContent = "No problems found so far.";
        validity.className = "validity ok";
        return;
      }
      var list = document.createElement("ul");
      (problem.errors || []).forEach(function (e, i) {
        // the problem in the form's words (its place named when it is not shown next to its own field)
        var w = (words && words[i]) || { text: e.message + (e.allowed ? " (allowed: " + e.allowed + ")" : ""),
                                         where: e.field || "" };
        var text = w.text;
        var slot = jsonMode.checked ? null : slotFor(form, e.field || "");
        if (slot && slot.getAttribute("data-err-for") !== (e.field || "")) text = w.where + ": " + text;
        if (slot) {
          var span = document.createElement("span");
          span.textContent = text;
          slot.appendChild(span);
          var wrap = slot.closest(".field, fieldset");
          if (wrap) wrap.classList.add("invalid");
        } else {
          var li = document.createElement("li");
          li.textContent = (w.where ? w.where + ": " : "") + text;
          list.appendChild(li);
        }
      });
      if (list.children.length) summary.appendChild(list);
      var n = (problem.errors || []).length;
      validity.textContent = n + (n === 1 ? " problem" : " problems") + ": " + problem.detail;
      validity.className = "validity bad";
    }

    function validate() {
      var mine = ++seq;
      var body = new URLSearchParams(new FormData(form));
      body.delete("csrf_token");
      fetch(url, {
        method: "POST",
        headers: { "X-CSRF-Token": csrfOf(form) },
        body: body,
        credentials: "same-origin"
      }).then(function (resp) {
        if (!resp.ok) throw new Error("status " + resp.status);
        return resp.json();
      }).then(function (data) {
        if (mine !== seq) return;
        if (!jsonMode.checked && data.draft !== null && document.activeElement !== jsonBox) {
          jsonBox.value = JSON.stringify(data.draft, null, 2);
        }
        show(data.problem, data.messages);
      }).catch(function (err) {
        if (mine === seq) validity.textContent = "Could not check the form just now (" + err.message + ").";
      });
    }

    form.querySelectorAll("fieldset.repeat").forEach(function (fs) { setupRepeat(form, fs); });
    syncOrgans(form, true);
    form.addEventListener("change", function (ev) {
      if (ev.target.name && /^metastases\[\d+\]\.organ$/.test(ev.target.name)) syncOrgans(form);
    });
    var later = debounce(validate, 250);
    form.addEventListener("input", later);
    form.addEventListener("change", later);
    validate();
  }

  /* The decision form (decision record 0040): the deviation reason only when the board deviates (disabled, so not
     sent, otherwise), another treatment and participants added as rows. */
  function setupDecisionForm(form) {
    var dev = document.getElementById("deviation-fields");
    var devSelect = document.getElementById("deviation");
    function update() {
      var v = form.querySelector('input[name="concordant"]:checked');
      var deviates = !!(v && v.value === "no");
      dev.hidden = !deviates;
      devSelect.disabled = !deviates;
    }
    form.addEventListener("change", update);
    update();

    var others = form.querySelector(".other-rows");
    var otherTpl = form.querySelector("template.other-template");
    form.querySelector(".add-other").addEventListener("click", function () {
      others.insertAdjacentHTML("beforeend", otherTpl.innerHTML);
      others.lastElementChild.focus();
    });

    var rows = form.querySelector(".participant-rows");
    var rowTpl = form.querySelector("template.participant-template");
    var next = rows.querySelectorAll(".participant").length + 1;
    form.querySelector(".add-participant").addEventListener("click", function () {
      rows.insertAdjacentHTML("beforeend", rowTpl.innerHTML.split("__p__").join(String(next)));
      next += 1;
      rows.lastElementChild.querySelector("input").focus();
    });
    rows.addEventListener("click", function (ev) {
      if (ev.target.classList.contains("remove-participant")) ev.target.closest(".participant").remove();
    });
  }

  /* The decisions panel is shown while it is the page's target; one shown with problems (class "open") closes too. */
  function setupDecisionPanel(panel) {
    var close = document.getElementById("close-decisions");
    if (close) close.addEventListener("click", function () { panel.classList.remove("open"); });
  }

  /* The "paste reports" panel (decision record 0046): more report boxes on demand, and an oversized paste said at
     once (the server says the same without script). */
  function setupPasteForm(form) {
    var reports = form.querySelector(".reports");
    var tpl = form.querySelector("template.report-template");
    var add = form.querySelector(".add-report");
    var max = Number(form.getAttribute("data-max-chars")) || 0;
    add.hidden = false;
    add.addEventListener("click", function () {
      var n = reports.querySelectorAll("fieldset.report").length + 1;
      reports.insertAdjacentHTML("beforeend", tpl.innerHTML.split("__r__").join(String(n)));
      reports.lastElementChild.querySelector("textarea").focus();
    });
    form.addEventListener("submit", function (ev) {
      var bad = null;
      form.querySelectorAll("fieldset.report").forEach(function (fs) {
        var text = fs.querySelector("textarea");
        var err = fs.querySelector(".err");
        err.textContent = "";
        fs.classList.remove("invalid");
        if (max && text.value.length > max) {
          err.textContent = "The text is " + text.value.length.toLocaleString("en") + " characters; a report pasted " +
            "here may have at most " + max.toLocaleString("en") + ". Paste the report itself, one report per box.";
          fs.classList.add("invalid");
          bad = bad || text;
        }
      });
      if (bad) {
        ev.preventDefault();
        bad.focus();
      }
    });
  }

  /* A field the draft filled is marked "from the reports" while it holds the report's value; once changed it is
     marked as changed (it will be saved as the clinician's value, not as extracted). */
  function setupExtracted(form) {
    function sync(field) {
      var input = field.querySelector("input, select");
      if (!input) return;
      var same = input.value === field.getAttribute("data-extracted");
      field.classList.toggle("extracted", same);
      field.classList.toggle("edited", !same);
      var tag = field.querySelector(".from-tag");
      if (tag) tag.textContent = same ? "from the reports" : "changed from the report's value";
    }
    form.addEventListener("input", function (ev) {
      var field = ev.target.closest && ev.target.closest(".field.from-report");
      if (field) sync(field);
    });
    form.addEventListener("change", function (ev) {
      var field = ev.target.closest && ev.target.closest(".field.from-report");
      if (field) sync(field);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var pf = document.getElementById("patient-form");
    if (pf) setupPatientForm(pf);
    if (pf) setupExtracted(pf);
    var paste = document.getElementById("paste-form");
    if (paste) setupPasteForm(paste);
    var df = document.getElementById("decision-form");
    if (df) setupDecisionForm(df);
    var panel = document.getElementById("decisions");
    if (panel && panel.classList.contains("decide-panel")) setupDecisionPanel(panel);
  });
})();
