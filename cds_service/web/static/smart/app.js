/* The vte-cds SMART app: the full VTE assessment of one patient, with the items the chart could
 * not establish filled in by the clinician and the tier recomputed live by the service
 * (POST /smart/api/assess). Vanilla JS, no build step; every text goes in as text. The page
 * never sees an access token: the service keeps it. */
(function () {
  "use strict";

  var T = window.VteSmartText;
  var SCORES = ["mm_vte", "bleeding", "wells_dvt", "wells_pe"];
  var RECOMMENDATIONS = ["prophylaxis", "treatment", "cmvt"];
  var DEBOUNCE_MS = 350;
  var state = {
    lang: "en", patient: null, context: null, overrides: {}, doc: null, seq: 0,
    inputsKey: null, timer: null
  };

  function $(id) { return document.getElementById(id); }

  function t(key) {
    var table = T[state.lang] || T.en;
    return key in table ? table[key] : (key in T.en ? T.en[key] : key);
  }

  function label(value) {
    if (value && typeof value === "object") { return value[state.lang] || value.en || ""; }
    return value == null ? "" : String(value);
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === undefined || value === null || value === false) { return; }
      if (name === "text") { node.textContent = value; }
      else if (name === "className") { node.className = value; }
      else { node.setAttribute(name, value === true ? "" : String(value)); }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function fmt(x) {
    return typeof x === "number" ? String(Math.round(x * 100) / 100) : String(x);
  }

  function signed(x) { return (x > 0 ? "+" : "") + fmt(x); }

  function setStatus(text, isError) {
    var node = $("status");
    node.textContent = text || "";
    node.className = isError ? "error" : "";
  }

  function notice(key, kind, id) {
    $("notices").appendChild(el("p", { className: "notice " + (kind || ""), id: id,
      "data-i18n": key, text: t(key) }));
  }

  async function getJson(url, options) {
    var response = await fetch(url, options || {
      headers: { Accept: "application/json" }, credentials: "same-origin"
    });
    var body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    return { status: response.status, ok: response.ok, body: body };
  }

  /* ---------- language ---------- */

  function applyLanguage() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach(function (node) {
      node.textContent = t(node.getAttribute("data-i18n"));
    });
    document.querySelectorAll(".lang button").forEach(function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-lang") === state.lang));
    });
    document.title = t("title");
    state.inputsKey = null;  // labels change: draw the inputs again
    render();
  }

  /* ---------- talking to the service ---------- */

  function assess(quiet) {
    var seq = state.seq + 1;
    state.seq = seq;
    setStatus(quiet ? t("recomputing") : t("loading"));
    var overrides = {};
    Object.keys(state.overrides).forEach(function (k) {
      if (state.overrides[k] !== null && state.overrides[k] !== undefined) {
        overrides[k] = state.overrides[k];
      }
    });
    return getJson("/smart/api/assess", {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ patient: state.patient, overrides: overrides })
    }).then(function (answer) {
      if (seq !== state.seq) { return; }  // a newer answer is on its way
      if (!answer.ok || !answer.body || !answer.body.scores) {
        var msg = answer.body && answer.body.message ? ": " + answer.body.message : "";
        setStatus(t("failed") + answer.status + msg, true);
        document.body.setAttribute("data-state", "error");
        return;
      }
      state.doc = answer.body;
      setStatus("");
      render();
      document.body.setAttribute("data-state", "ready");
      document.body.setAttribute("data-seq", String(seq));
    }, function (err) {
      if (seq === state.seq) { setStatus(t("failed") + String(err), true); }
    });
  }

  function setOverride(factor, value, later) {
    if (value === null || value === undefined) { delete state.overrides[factor]; }
    else { state.overrides[factor] = value; }
    if (state.timer) { window.clearTimeout(state.timer); state.timer = null; }
    if (later) {
      state.timer = window.setTimeout(function () { state.timer = null; assess(true); },
        DEBOUNCE_MS);
    } else {
      assess(true);
    }
  }

  /* ---------- rendering ---------- */

  function render() {
    var doc = state.doc;
    renderPatient();
    if (!doc) { return; }
    renderSummary(doc);
    renderRecommendation(doc);
    renderInputs(doc);
    renderScores(doc);
    renderMore(doc);
  }

  function renderPatient() {
    var line = $("patient-line");
    var p = state.doc && state.doc.patient;
    if (!state.patient) { line.textContent = ""; return; }
    var parts = [];
    if (p && p.name) { parts.push(p.name); }
    parts.push(state.patient);
    if (p && p.gender) { parts.push(t(p.gender)); }
    if (p && p.birthDate) { parts.push(p.birthDate); }
    var mode = state.context && state.context.launch ? t("launched") : t("demo");
    line.textContent = parts.join(" · ") + " — " + mode +
      (state.doc && state.doc.as_of ? " · " + t("asOf") + " " + state.doc.as_of : "");
  }

  function tierText(key, category) {
    var labels = (state.doc.tier_labels || {})[key] || {};
    return labels[category] ? label(labels[category]) : String(category || "").replace(/_/g, " ");
  }

  function renderSummary(doc) {
    var box = $("summary");
    clear(box);
    var scores = doc.scores || {};
    var tiles = SCORES.filter(function (k) { return k in scores; }).map(function (key) {
      var s = scores[key];
      var range = s.min_points !== s.max_points
        ? t("range") + " " + fmt(s.min_points) + "–" + fmt(s.max_points) : "";
      var worst = s.worst_case !== s.category
        ? t("couldBe") + " " + tierText(key, s.worst_case) + " " + t("worstCase") : "";
      return el("div", {
        className: "tile cat-" + s.category, id: "tier-" + key, "data-category": s.category,
        "data-points": String(s.points)
      }, [
        el("div", { className: "tile-name", text: t(key) }),
        el("div", { className: "tile-points" }, [
          el("strong", { text: fmt(s.points) }), " " + t("points"),
          range ? el("span", { className: "muted", text: " · " + range }) : null]),
        el("div", { className: "tile-tier", text: tierText(key, s.category) }),
        worst ? el("div", { className: "tile-worst", text: worst }) : null
      ]);
    });
    box.appendChild(el("div", { className: "tiles" }, tiles));
  }

  function optionNode(option, recommended) {
    var kids = [el("span", { className: "dose", text: label(option.dose) })];
    if (option.computed) { kids.push(el("span", { className: "computed", text: " — " + label(option.computed) })); }
    if (recommended) { kids.unshift(el("span", { className: "star", text: "★ " + t("recommended") + ": " })); }
    kids.push(el("code", { className: "rules", text: " " + (option.rules || []).join(", ") }));
    var cautions = (option.cautions || []).map(function (c) { return el("li", { text: label(c) }); });
    if (cautions.length) {
      kids.push(el("div", { className: "cautions" }, [el("strong", { text: t("cautions") + ": " }),
        el("ul", {}, cautions)]));
    }
    return el("li", { className: recommended ? "option recommended" : "option",
      "data-regimen": option.regimen }, kids);
  }

  function recommendationNode(key, rec) {
    var regimens = state.doc.regimen_labels || {};
    var kids = [el("h3", { text: t(key) })];
    var main = regimens[rec.regimen] ? label(regimens[rec.regimen]) : rec.regimen;
    kids.push(el("p", { className: "regimen", id: "regimen-" + key, "data-regimen": rec.regimen }, [
      el("strong", { text: t("recommended") + ": " }), main]));
    var options = rec.options || [];
    if (options.length) {
      kids.push(el("h4", { text: t("options") }));
      kids.push(el("ul", { className: "options" }, options.map(function (o) {
        return optionNode(o, o.regimen === rec.regimen);
      })));
    }
    var out = rec.ruled_out || [];
    if (out.length) {
      kids.push(el("h4", { text: t("ruledOut") }));
      kids.push(el("ul", { className: "ruled-out" }, out.map(function (r) {
        var name = regimens[r.regimen] ? label(regimens[r.regimen]) : r.regimen;
        return el("li", { "data-regimen": r.regimen }, [el("strong", { text: name }), " — " +
          label(r.reason), el("code", { text: " " + (r.rule || "") })]);
      })));
    }
    if (rec.duration) {
      kids.push(el("h4", { text: t("duration") }));
      kids.push(el("p", { className: "duration", text: label(rec.duration) }));
    }
    [["notes", rec.notes], ["couldChange", rec.could_change]].forEach(function (pair) {
      var list = pair[1] || [];
      if (!list.length) { return; }
      kids.push(el("h4", { text: t(pair[0]) }));
      kids.push(el("ul", { className: pair[0] }, list.map(function (n) {
        return el("li", { text: label(n) });
      })));
    });
    return el("div", { className: "rec", id: "rec-" + key }, kids);
  }

  function renderRecommendation(doc) {
    var box = $("recommendation");
    clear(box);
    box.hidden = false;
    box.appendChild(el("h2", { text: t("recommendation") }));
    var recs = doc.recommendations || {};
    var shown = 0;
    RECOMMENDATIONS.forEach(function (key) {
      var rec = recs[key];
      if (!rec) { return; }
      if (rec.recommendation) { rec = rec.recommendation; }  // a treatment plan
      if (!rec.regimen) { return; }
      box.appendChild(recommendationNode(key, rec));
      shown += 1;
    });
    if (!shown) { box.appendChild(el("p", { className: "muted", text: t("noRecommendation") })); }
  }

  function criterionText(item) {
    if (item.range) { return item.range.replace(">=", "≥").replace("<=", "≤"); }
    if (item.equals) { return "= " + item.equals; }
    return "";
  }

  function inputControl(entry) {
    var factor = entry.factor;
    var value = state.overrides[factor];
    if (entry.kind === "bool") {
      var group = el("div", { className: "choices", role: "radiogroup", "aria-label": label(entry.label) });
      [["yes", true], ["no", false], ["unknown", null]].forEach(function (pair) {
        var id = "in-" + factor + "-" + pair[0];
        var radio = el("input", { type: "radio", name: "in-" + factor, id: id, value: pair[0] });
        radio.checked = value === undefined ? pair[1] === null : value === pair[1];
        radio.addEventListener("change", function () {
          if (radio.checked) { setOverride(factor, pair[1], false); }
        });
        group.appendChild(el("label", { className: "choice", "for": id }, [radio, " " + t(pair[0])]));
      });
      return group;
    }
    if (entry.kind === "number") {
      var input = el("input", { type: "number", id: "in-" + factor, min: "0", step: "any",
        inputmode: "decimal", "aria-label": label(entry.label) });
      if (typeof value === "number") { input.value = String(value); }
      var read = function (later) {
        var text = input.value.trim();
        var number = text === "" ? null : Number(text);
        if (number !== null && (!isFinite(number) || number < 0)) { return; }
        if (number === (state.overrides[factor] === undefined ? null : state.overrides[factor])) { return; }
        setOverride(factor, number, later);
      };
      input.addEventListener("input", function () { read(true); });
      input.addEventListener("change", function () { read(false); });
      return el("span", { className: "number" }, [input, entry.unit ? " " + entry.unit : ""]);
    }
    var select = el("select", { id: "in-" + factor, "aria-label": label(entry.label) });
    select.appendChild(el("option", { value: "", text: t("unknown") }));
    (entry.choices || []).forEach(function (c) { select.appendChild(el("option", { value: c, text: t(c) })); });
    select.value = typeof value === "string" ? value : "";
    select.addEventListener("change", function () { setOverride(factor, select.value || null, false); });
    return select;
  }

  function renderInputs(doc) {
    var entries = doc.inputs || [];
    var key = state.lang + "|" + state.patient + "|" + entries.map(function (e) { return e.factor; }).join(",");
    $("entry").hidden = false;
    var box = $("inputs");
    entries.forEach(function (entry) {
      var row = document.querySelector("[data-factor='" + entry.factor + "']");
      if (row) { row.classList.toggle("set", state.overrides[entry.factor] !== undefined); }
    });
    if (key === state.inputsKey) { return; }  // keep focus and typing in place
    state.inputsKey = key;
    clear(box);
    if (!entries.length) { box.appendChild(el("p", { className: "muted", text: t("noInputs") })); return; }
    entries.forEach(function (entry) {
      var items = entry.items.map(function (item) {
        var crit = criterionText(item);
        return el("li", {}, [
          el("span", { className: "score-name", text: t(item.score) + ": " }),
          label(item.label) + (crit ? " (" + t("criterion") + " " + crit + (entry.unit ? " " + entry.unit : "") + ")" : ""),
          el("span", { className: "pts", text: " " + signed(item.points) }),
          el("code", { text: " " + item.rule })]);
      });
      box.appendChild(el("div", {
        className: "input-row" + (state.overrides[entry.factor] !== undefined ? " set" : ""),
        "data-factor": entry.factor
      }, [
        el("div", { className: "input-label" }, [el("strong", { text: label(entry.label) }),
          el("ul", { className: "input-items" }, items)]),
        el("div", { className: "input-control" }, [inputControl(entry)])
      ]));
    });
  }

  function statusMark(status) {
    if (status === "present") { return "☑"; }
    if (status === "absent") { return "☐"; }
    return "?";
  }

  function evidenceText(item) {
    var entered = state.doc.evidence_entered;
    var refs = (item.evidence || []).map(function (e) { return e === entered ? t("entered") : e; });
    var text = refs.join(", ");
    if (item.assumption) { text += (text ? " " : "") + "(" + t("assumed") + ": " + item.assumption + ")"; }
    if (item.status === "unknown" && item.reason) { text += (text ? " " : "") + "(" + item.reason + ")"; }
    return text;
  }

  function scoreNode(key, s) {
    var entered = state.doc.evidence_entered;
    var rows = (s.items || []).map(function (item) {
      var byClinician = (item.evidence || []).indexOf(entered) >= 0;
      var statusKey = item.status === "unknown" ? "unknownStatus" : item.status;
      return el("tr", {
        className: "status-" + item.status + (byClinician ? " entered" : ""),
        "data-rule": item.rule, "data-status": item.status
      }, [
        el("td", { className: "mark", title: t(statusKey), "aria-label": t(statusKey),
          text: statusMark(item.status) }),
        el("td", { text: label(item.label) }),
        el("td", { className: "num", text: signed(item.points) }),
        el("td", { text: t(statusKey) }),
        el("td", {}, [el("code", { text: item.rule })]),
        el("td", { className: "evidence", text: evidenceText(item) })
      ]);
    });
    var head = el("h3", {}, [t(key) + ": ", el("strong", { text: fmt(s.points) + " " + t("points") }),
      " · " + t("tier") + ": ", el("span", { className: "category", text: tierText(key, s.category) })]);
    var could = (s.could_be || []).map(function (c) {
      return el("li", { text: t("couldBe") + " " + tierText(key, c.category) + " (" +
        (c.rules || []).join(", ") + ")" });
    });
    return el("div", { className: "score panel", "data-score": key }, [
      head, could.length ? el("ul", { className: "could" }, could) : null,
      el("table", { className: "items" }, [
        el("thead", {}, [el("tr", {}, ["", "item", "pts", "status", "rule", "evidence"].map(function (k) {
          return el("th", { text: k ? t(k) : "" });
        }))]),
        el("tbody", {}, rows)])
    ]);
  }

  function renderScores(doc) {
    var box = $("scores");
    clear(box);
    var scores = doc.scores || {};
    SCORES.filter(function (k) { return k in scores; }).forEach(function (key) {
      box.appendChild(scoreNode(key, scores[key]));
    });
  }

  function renderMore(doc) {
    var box = $("more");
    clear(box);
    var parts = [];
    if (doc.duration && doc.duration.label) {
      parts.push(el("h3", { text: t("durationAdvice") }));
      parts.push(el("p", { id: "duration-advice", text: label(doc.duration.label) }));
      parts.push(el("ul", {}, (doc.duration.reasons || []).map(function (r) {
        return el("li", { text: label(r.text) });
      })));
    }
    if (doc.dvt_workup && doc.dvt_workup.label) {
      parts.push(el("h3", { text: t("dvtWorkup") }));
      parts.push(el("p", { text: label(doc.dvt_workup.label) }));
    }
    if ((doc.drug_notes || []).length) {
      parts.push(el("h3", { text: t("drugNotes") }));
      parts.push(el("ul", {}, doc.drug_notes.map(function (n) {
        return el("li", {}, [el("strong", { text: label(n.drug) + ": " }), label(n.text)]);
      })));
    }
    if ((doc.context || []).length) {
      parts.push(el("h3", { text: t("context") }));
      parts.push(el("ul", {}, doc.context.map(function (c) { return el("li", { text: label(c) }); })));
    }
    var issues = doc.data_issues || [];
    if (issues.length) {
      parts.push(el("details", { className: "issues" }, [
        el("summary", { text: t("dataIssues") + " (" + issues.length + ")" }),
        el("ul", {}, issues.map(function (i) {
          return el("li", { className: "issue-" + (i.severity || ""),
            text: (i.reference ? i.reference + ": " : "") + (i.reason || "") });
        }))]));
    }
    if (parts.length) { box.appendChild(el("div", { className: "panel" }, parts)); }
  }

  /* ---------- start ---------- */

  async function showPicker() {
    $("picker").hidden = false;
    var list = $("patients");
    clear(list);
    var answer = await getJson("/ui/patients");
    var rows = (answer.body && answer.body.patients) || [];
    if (!answer.ok || !rows.length) {
      list.appendChild(el("li", { className: "muted",
        text: answer.ok ? t("noPatients") : t("failed") + answer.status }));
      return;
    }
    rows.forEach(function (row) {
      list.appendChild(el("li", {}, [el("a", {
        href: "/smart/app?patient=" + encodeURIComponent(row.id),
        text: (row.name ? row.name + " — " : "") + row.id
      })]));
    });
  }

  async function init() {
    state.lang = (navigator.language || "en").toLowerCase().indexOf("zh") === 0 ? "zh" : "en";
    var asked = new URLSearchParams(window.location.search).get("lang");
    if (asked === "zh" || asked === "en") { state.lang = asked; }
    document.querySelectorAll(".lang button").forEach(function (button) {
      button.addEventListener("click", function () {
        var lang = button.getAttribute("data-lang");
        if (lang !== state.lang) { state.lang = lang; applyLanguage(); }
      });
    });
    $("clear-entries").addEventListener("click", function () {
      state.overrides = {};
      state.inputsKey = null;
      assess(true);
    });
    applyLanguage();
    var answer = await getJson("/smart/api/context");
    state.context = answer.body || { launch: false, demo: false };
    if (state.context.launch) {
      state.patient = state.context.patient;
    } else {
      state.patient = new URLSearchParams(window.location.search).get("patient");
    }
    if (!state.patient) {
      notice("noLaunch", "warn", "no-patient");
      if (state.context.demo) { await showPicker(); }
      document.body.setAttribute("data-state", "no-patient");
      return;
    }
    await assess(false);
  }

  document.addEventListener("DOMContentLoaded", init);
}());
