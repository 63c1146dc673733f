/* The vte-cds demo page: pick a patient and a hook (or paste a request), call the service as
 * a CDS client would, and show the cards and the assessment behind them. Vanilla JS, no build.
 * Card text is put in the page as text, except the detail, which goes through VteMarkdown
 * (HTML-escaped first). */
(function () {
  "use strict";

  var T = {
    en: {
      title: "VTE CDS Hooks demo",
      subtitle: "Cards as a clinician sees them, for integrators. Demo data only.",
      fromServer: "Patient from the FHIR server",
      patient: "Patient", hook: "Hook", draft: "Draft order", run: "Call the hook",
      paste: "Paste a CDS Hooks request", service: "Service", send: "Send",
      exchange: "Request and response JSON", request: "Request", response: "Response",
      noFhir: "no FHIR server configured for the demo page",
      noFhirHelp: "Set VTE_CDS_UI_FHIR_URL (and add it to VTE_CDS_FHIR_ALLOWLIST) to pick " +
        "patients here. You can still paste a CDS Hooks request with its prefetch below.",
      authOn: "Authentication is on (VTE_CDS_AUTH=on): every hook call needs a JWT from a " +
        "trusted EHR, which this page does not have, so calls from here answer 401. This page " +
        "is meant for demo mode: run the service with VTE_CDS_AUTH=off on a test machine, " +
        "never with real patient data.",
      notAllowed: "The demo FHIR server is not in VTE_CDS_FHIR_ALLOWLIST: hook calls without " +
        "prefetch will be refused (403). Add it to the allow-list.",
      fhirInfo: "FHIR server: ",
      noDraft: "(none: empty draftOrders)",
      noPatients: "The FHIR server holds no Patient resources.",
      patientsFailed: "Could not list the patients: ",
      auto: "(from the request's hook)",
      calling: "Calling ", noCards: "No cards: the service has nothing to say for this patient.",
      failed: "The service answered ", badJson: "The request is not valid JSON: ",
      noService: "No service answers this hook: ",
      source: "Source", suggestions: "Suggestions", recommended: "recommended",
      overrides: "Override reasons", links: "Links", atMostOne: "choose at most one",
      showJson: "Resource JSON",
      assessment: "Assessment breakdown", asOf: "as of ", points: "points", range: "range",
      category: "category", couldBe: "could be ", showAbsent: "Show absent items",
      item: "Item", pts: "Points", status: "Status", rule: "Rule", evidence: "Evidence",
      assumed: "assumed", present: "present", absent: "absent", unknown: "unknown",
      dataIssues: "Data issues", fullJson: "Full assessment JSON",
      loadingAssessment: "Loading the assessment…", assessmentFailed: "Assessment not loaded: ",
      info: "info", warning: "warning", critical: "critical",
      names: {
        mm_vte: "MM VTE risk score (Table 5)", bleeding: "Bleeding risk score (Table 6)",
        wells_dvt: "Wells DVT score", wells_pe: "Wells PE score"
      }
    },
    zh: {
      title: "VTE CDS Hooks 演示",
      subtitle: "按临床医生所见展示卡片，供集成人员使用。仅限演示数据。",
      fromServer: "FHIR服务器中的患者",
      patient: "患者", hook: "Hook", draft: "待开医嘱", run: "调用Hook",
      paste: "粘贴CDS Hooks请求", service: "服务", send: "发送",
      exchange: "请求与响应JSON", request: "请求", response: "响应",
      noFhir: "no FHIR server configured for the demo page（演示页面未配置FHIR服务器）",
      noFhirHelp: "设置VTE_CDS_UI_FHIR_URL（并加入VTE_CDS_FHIR_ALLOWLIST）即可在此选择患者。" +
        "仍可在下方粘贴带prefetch的CDS Hooks请求。",
      authOn: "已开启认证（VTE_CDS_AUTH=on）：每次Hook调用都需要受信任EHR签发的JWT，本页面没有，" +
        "因此从这里调用会返回401。本页面用于演示模式：请在测试机上以VTE_CDS_AUTH=off运行服务，" +
        "切勿用于真实患者数据。",
      notAllowed: "演示FHIR服务器不在VTE_CDS_FHIR_ALLOWLIST中：不带prefetch的Hook调用将被拒绝（403）。",
      fhirInfo: "FHIR服务器：",
      noDraft: "（无：空的draftOrders）",
      noPatients: "FHIR服务器中没有Patient资源。",
      patientsFailed: "无法列出患者：",
      auto: "（按请求中的hook）",
      calling: "正在调用 ", noCards: "无卡片：服务对该患者没有提示。",
      failed: "服务返回 ", badJson: "请求不是有效的JSON：",
      noService: "没有服务响应该hook：",
      source: "来源", suggestions: "建议", recommended: "推荐",
      overrides: "忽略理由", links: "链接", atMostOne: "至多选择一项",
      showJson: "资源JSON",
      assessment: "评估明细", asOf: "评估日期 ", points: "分", range: "范围",
      category: "分级", couldBe: "可能为 ", showAbsent: "显示不存在的项目",
      item: "项目", pts: "分值", status: "状态", rule: "规则", evidence: "依据",
      assumed: "推定", present: "存在", absent: "不存在", unknown: "未知",
      dataIssues: "数据问题", fullJson: "完整评估JSON",
      loadingAssessment: "正在加载评估…", assessmentFailed: "评估未加载：",
      info: "提示", warning: "警告", critical: "严重",
      names: {
        mm_vte: "MM相关VTE风险评分（表5）", bleeding: "出血风险评分（表6）",
        wells_dvt: "Wells DVT评分", wells_pe: "Wells PE评分"
      }
    }
  };

  var HOOKS = ["patient-view", "order-select", "order-sign"];
  var SCORE_ORDER = ["mm_vte", "bleeding", "wells_dvt", "wells_pe"];  // the rest follow
  var VIEW_PATH = /^\/assessments\/view\/[A-Za-z0-9_-]{1,100}$/;
  var state = {
    lang: "en", config: null, services: {}, last: null, cards: null, assessment: null,
    showAbsent: false, notices: []
  };

  function $(id) { return document.getElementById(id); }

  function t(key) {
    var table = T[state.lang] || T.en;
    return key in table ? table[key] : (key in T.en ? T.en[key] : key);
  }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (name) {
      var value = attrs[name];
      if (value === undefined || value === null || value === false) { return; }
      if (name === "text") { node.textContent = value; }
      else if (name === "className") { node.className = value; }
      else if (name === "onclick") { node.addEventListener("click", value); }
      else { node.setAttribute(name, value === true ? "" : String(value)); }
    });
    (children || []).forEach(function (child) {
      if (child === null || child === undefined) { return; }
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function uuid() {
    var b = new Uint8Array(16);
    window.crypto.getRandomValues(b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    var h = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); });
    return h.slice(0, 4).join("") + "-" + h.slice(4, 6).join("") + "-" + h.slice(6, 8).join("") +
      "-" + h.slice(8, 10).join("") + "-" + h.slice(10).join("");
  }

  function pretty(value) { return JSON.stringify(value, null, 2); }

  function safeUrl(url) {
    try {
      var parsed = new URL(url, window.location.href);
      return parsed.protocol === "http:" || parsed.protocol === "https:" ? parsed.href : null;
    } catch (e) { return null; }
  }

  function fmt(x) {
    return typeof x === "number" ? String(Math.round(x * 100) / 100) : String(x);
  }

  function label(value) {
    if (value && typeof value === "object") { return value[state.lang] || value.en || ""; }
    return value == null ? "" : String(value);
  }

  async function getJson(url, options) {
    var response = await fetch(url, options || { headers: { Accept: "application/json" } });
    var body = null;
    try { body = await response.json(); } catch (e) { body = null; }
    return { status: response.status, ok: response.ok, body: body };
  }

  function setStatus(text, isError) {
    var node = $("status");
    node.textContent = text || "";
    node.className = isError ? "error" : "";
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
    fillDrafts();
    fillPasteServices();
    renderNotices();
    if (state.config && state.config.fhirServer) {
      $("fhir-info").textContent = t("fhirInfo") + state.config.fhirServer;
    }
  }

  function setLanguage(lang) {
    if (lang === state.lang) { return; }
    state.lang = lang;
    applyLanguage();
    if (state.last) { send(state.last.serviceId, state.last.body, state.last.generated); }
  }

  /* ---------- notices, patients, drafts ---------- */

  function renderNotices() {
    var box = $("notices");
    clear(box);
    var cfg = state.config;
    if (!cfg) { return; }
    if (cfg.auth) { box.appendChild(el("p", { className: "notice warn", id: "auth-notice", text: t("authOn") })); }
    if (!cfg.fhirServer) {
      box.appendChild(el("div", { className: "notice", id: "no-fhir" }, [
        el("strong", { text: t("noFhir") }), el("p", { text: t("noFhirHelp") })]));
    } else if (!cfg.allowListed) {
      box.appendChild(el("p", { className: "notice warn", text: t("notAllowed") }));
    }
    state.notices.forEach(function (text) {
      box.appendChild(el("p", { className: "notice error", text: text }));
    });
  }

  function fillDrafts() {
    var select = $("draft");
    var chosen = select.value;
    clear(select);
    select.appendChild(el("option", { value: "", text: t("noDraft") }));
    (window.VteSamples || []).forEach(function (sample) {
      select.appendChild(el("option", { value: sample.key, text: label(sample.label) }));
    });
    select.value = chosen;
  }

  function fillPasteServices() {
    var select = $("paste-service");
    var chosen = select.value;
    clear(select);
    select.appendChild(el("option", { value: "", text: t("auto") }));
    Object.keys(state.services).forEach(function (hook) {
      var id = state.services[hook];
      select.appendChild(el("option", { value: id, text: id + " (" + hook + ")" }));
    });
    select.value = chosen;
  }

  async function loadPatients() {
    var select = $("patient");
    clear(select);
    var answer;
    try { answer = await getJson("/ui/patients"); } catch (e) { answer = { ok: false, body: null }; }
    if (!answer.ok || !answer.body) {
      var why = answer.body && answer.body.message ? answer.body.message : String(answer.status);
      state.notices.push(t("patientsFailed") + why);
      renderNotices();
      return;
    }
    var rows = answer.body.patients || [];
    if (!rows.length) { state.notices.push(t("noPatients")); renderNotices(); }
    rows.forEach(function (row) {
      var extra = [row.gender, row.birthDate].filter(Boolean).join(", ");
      var text = (row.name ? row.name + " — " : "") + row.id + (extra ? " (" + extra + ")" : "");
      select.appendChild(el("option", { value: row.id, text: text }));
    });
  }

  function updateDraftVisibility() {
    $("draft-label").hidden = $("hook").value === "patient-view";
  }

  /* ---------- building and sending requests ---------- */

  function buildRequest(patientId, hook, draftKey) {
    var context = { userId: "Practitioner/ui-demo", patientId: patientId };
    if (hook !== "patient-view") {
      var drafts = [];
      (window.VteSamples || []).forEach(function (sample) {
        if (sample.key === draftKey) { drafts.push(sample.build(patientId)); }
      });
      context.draftOrders = {
        resourceType: "Bundle", type: "collection",
        entry: drafts.map(function (d) { return { resource: d }; })
      };
      if (hook === "order-select") {
        context.selections = drafts.map(function (d) { return d.resourceType + "/" + d.id; });
      }
    }
    return {
      hook: hook, hookInstance: uuid(), fhirServer: state.config.fhirServer, context: context
    };
  }

  async function send(serviceId, body, generated) {
    if (generated) { body.hookInstance = uuid(); }
    state.last = { serviceId: serviceId, body: body, generated: generated };
    state.cards = null;
    state.assessment = null;
    clear($("cards"));
    clear($("assessment"));
    setStatus(t("calling") + serviceId + " …");
    $("request-json").textContent = pretty(body);
    $("response-json").textContent = "";
    $("exchange").hidden = false;
    var answer;
    try {
      answer = await getJson("/cds-services/" + encodeURIComponent(serviceId), {
        method: "POST",
        headers: {
          "Content-Type": "application/json", Accept: "application/json",
          "Accept-Language": state.lang === "zh" ? "zh-CN,zh;q=0.9" : "en"
        },
        body: JSON.stringify(body)
      });
    } catch (e) {
      setStatus(t("failed") + String(e), true);
      return;
    }
    if (state.last.body !== body) { return; }  // a newer call has started
    $("response-json").textContent = pretty(answer.body);
    if (!answer.ok || !answer.body || !Array.isArray(answer.body.cards)) {
      var msg = answer.body && answer.body.message ? ": " + answer.body.message : "";
      setStatus(t("failed") + answer.status + msg, true);
      return;
    }
    state.cards = answer.body.cards;
    setStatus(state.cards.length ? "" : t("noCards"));
    renderCards();
    var path = assessmentPath(state.cards);
    if (path) { loadAssessment(path, body); }
  }

  function assessmentPath(cards) {
    for (var i = 0; i < cards.length; i += 1) {
      var links = cards[i].links || [];
      for (var j = 0; j < links.length; j += 1) {
        try {
          var path = new URL(links[j].url, window.location.href).pathname;
          if (VIEW_PATH.test(path)) { return path; }
        } catch (e) { /* not a URL: skip */ }
      }
    }
    return null;
  }

  async function loadAssessment(path, body) {
    var box = $("assessment");
    box.appendChild(el("p", { className: "muted", text: t("loadingAssessment") }));
    var answer;
    try { answer = await getJson(path); } catch (e) { answer = { ok: false, status: String(e) }; }
    if (state.last.body !== body) { return; }
    if (!answer.ok || !answer.body) {
      clear(box);
      var msg = answer.body && answer.body.message ? answer.body.message : answer.status;
      box.appendChild(el("p", { className: "error", text: t("assessmentFailed") + msg }));
      return;
    }
    state.assessment = answer.body;
    renderAssessment();
  }

  function runFromForm(event) {
    event.preventDefault();
    var patientId = $("patient").value;
    var hook = $("hook").value;
    var serviceId = state.services[hook];
    if (!patientId) { return; }
    if (!serviceId) { setStatus(t("noService") + hook, true); return; }
    send(serviceId, buildRequest(patientId, hook, $("draft").value), true);
  }

  function sendPasted() {
    var body;
    try { body = JSON.parse($("paste-json").value); } catch (e) {
      setStatus(t("badJson") + e.message, true);
      return;
    }
    var serviceId = $("paste-service").value;
    if (!serviceId && body && typeof body === "object") { serviceId = state.services[body.hook]; }
    if (!serviceId) { setStatus(t("noService") + String(body && body.hook), true); return; }
    send(serviceId, body, false);
  }

  /* ---------- cards ---------- */

  function renderCard(card, index) {
    var indicator = ["info", "warning", "critical"].indexOf(card.indicator) >= 0
      ? card.indicator : "info";
    var parts = [];
    parts.push(el("div", { className: "card-head" }, [
      el("span", { className: "badge " + indicator, text: t(indicator) }),
      el("h3", { className: "summary", text: card.summary || "" })
    ]));
    if (card.source && card.source.label) {
      var href = card.source.url ? safeUrl(card.source.url) : null;
      parts.push(el("p", { className: "source muted" }, [
        t("source") + ": ",
        href ? el("a", { href: href, target: "_blank", rel: "noopener noreferrer", text: card.source.label })
          : card.source.label
      ]));
    }
    if (card.detail) {
      var detail = el("div", { className: "detail" });
      detail.innerHTML = window.VteMarkdown.render(card.detail);  // escaped by the renderer
      parts.push(detail);
    }
    var suggestions = card.suggestions || [];
    if (suggestions.length) {
      var out = el("pre", { className: "suggestion-json", hidden: true });
      var buttons = suggestions.map(function (s, k) {
        var button = el("button", {
          type: "button", className: "suggestion" + (s.isRecommended ? " recommended" : ""),
          "aria-pressed": "false", id: "suggestion-" + index + "-" + k
        }, [s.label || "", s.isRecommended ? el("span", { className: "star", text: " ★ " + t("recommended") }) : null]);
        button.addEventListener("click", function () {
          var open = button.getAttribute("aria-pressed") === "true";
          Array.prototype.forEach.call(button.parentNode.children, function (b) {
            b.setAttribute("aria-pressed", "false");
          });
          if (open) { out.hidden = true; return; }
          button.setAttribute("aria-pressed", "true");
          out.textContent = pretty(s.actions || []);
          out.hidden = false;
        });
        return button;
      });
      var head = t("suggestions") +
        (card.selectionBehavior === "at-most-one" ? " (" + t("atMostOne") + ")" : "");
      parts.push(el("div", { className: "suggestions" }, [
        el("h4", { text: head }), el("div", { className: "buttons" }, buttons), out]));
    }
    var reasons = card.overrideReasons || [];
    if (reasons.length) {
      parts.push(el("div", { className: "overrides" }, [
        el("h4", { text: t("overrides") }),
        el("ul", {}, reasons.map(function (r) {
          return el("li", {}, [r.display || r.code || "", el("code", { text: " " + (r.code || "") })]);
        }))
      ]));
    }
    var links = (card.links || []).filter(function (l) { return safeUrl(l.url); });
    if (links.length) {
      parts.push(el("p", { className: "links" }, [t("links") + ": "].concat(links.map(function (l) {
        return el("a", { href: safeUrl(l.url), target: "_blank", rel: "noopener noreferrer",
          text: l.label || l.url });
      }))));
    }
    return el("article", { className: "card " + indicator, "data-indicator": indicator }, parts);
  }

  function renderCards() {
    var box = $("cards");
    clear(box);
    (state.cards || []).forEach(function (card, i) { box.appendChild(renderCard(card, i)); });
  }

  /* ---------- assessment ---------- */

  function evidenceText(item) {
    var text = (item.evidence || []).join(", ");
    if (item.assumption) { text += (text ? " " : "") + "(" + t("assumed") + ": " + item.assumption + ")"; }
    if (item.reason) { text += (text ? " " : "") + "(" + item.reason + ")"; }
    return text;
  }

  function renderScore(key, score) {
    var names = t("names");
    var name = names[key] || key;
    var range = score.min_points !== score.max_points
      ? " · " + t("range") + " " + fmt(score.min_points) + "–" + fmt(score.max_points) : "";
    var head = el("h3", {}, [name + ": ", el("strong", { text: fmt(score.points) + " " + t("points") }),
      range + " · " + t("category") + " ", el("span", { className: "category", text: String(score.category || "").replace(/_/g, " ") })]);
    var rows = (score.items || []).filter(function (item) {
      return state.showAbsent || item.status !== "absent";
    }).map(function (item) {
      return el("tr", { className: "status-" + item.status }, [
        el("td", { text: label(item.label) }),
        el("td", { className: "num", text: fmt(item.points) }),
        el("td", { text: t(item.status) }),
        el("td", {}, [el("code", { text: item.rule || "" })]),
        el("td", { className: "evidence", text: evidenceText(item) })
      ]);
    });
    var table = el("table", { className: "scores", "data-score": key }, [
      el("thead", {}, [el("tr", {}, ["item", "pts", "status", "rule", "evidence"].map(function (k) {
        return el("th", { text: t(k) });
      }))]),
      el("tbody", {}, rows)
    ]);
    var could = (score.could_be || []).map(function (c) {
      return el("li", { text: t("couldBe") + String(c.category).replace(/_/g, " ") +
        (c.rules && c.rules.length ? " (" + c.rules.join(", ") + ")" : "") });
    });
    return el("div", { className: "score" }, [head, could.length ? el("ul", { className: "could" }, could) : null, table]);
  }

  function renderAssessment() {
    var box = $("assessment");
    clear(box);
    var doc = state.assessment;
    if (!doc) { return; }
    var toggle = el("input", { type: "checkbox", id: "show-absent" });
    toggle.checked = state.showAbsent;
    toggle.addEventListener("change", function () {
      state.showAbsent = toggle.checked;
      renderAssessment();
    });
    box.appendChild(el("div", { className: "assessment-head" }, [
      el("h2", { text: t("assessment") }),
      el("span", { className: "muted", text: doc.as_of ? t("asOf") + doc.as_of : "" }),
      el("label", { className: "toggle" }, [toggle, " " + t("showAbsent")])
    ]));
    var scores = doc.scores || {};
    var keys = SCORE_ORDER.filter(function (k) { return k in scores; }).concat(
      Object.keys(scores).filter(function (k) { return SCORE_ORDER.indexOf(k) < 0; }));
    keys.forEach(function (key) { box.appendChild(renderScore(key, scores[key])); });
    var issues = doc.data_issues || [];
    if (issues.length) {
      box.appendChild(el("details", { className: "issues" }, [
        el("summary", { text: t("dataIssues") + " (" + issues.length + ")" }),
        el("pre", { text: pretty(issues) })]));
    }
    box.appendChild(el("details", {}, [el("summary", { text: t("fullJson") }),
      el("pre", { text: pretty(doc) })]));
  }

  /* ---------- start ---------- */

  async function init() {
    document.querySelectorAll(".lang button").forEach(function (button) {
      button.addEventListener("click", function () { setLanguage(button.getAttribute("data-lang")); });
    });
    $("hook").addEventListener("change", updateDraftVisibility);
    $("hook-form").addEventListener("submit", runFromForm);
    $("paste-send").addEventListener("click", sendPasted);
    updateDraftVisibility();
    applyLanguage();
    var answers = await Promise.all([getJson("/ui/config"), getJson("/cds-services")]);
    state.config = answers[0].body || { fhirServer: null, auth: true };
    ((answers[1].body && answers[1].body.services) || []).forEach(function (s) {
      if (HOOKS.indexOf(s.hook) >= 0) { state.services[s.hook] = s.id; }
    });
    applyLanguage();
    if (state.config.fhirServer && !state.config.auth) {
      await loadPatients();
    } else {
      $("chart-panel").hidden = true;
      $("paste-panel").open = true;
    }
    document.body.setAttribute("data-ready", "true");
  }

  document.addEventListener("DOMContentLoaded", init);
}());
