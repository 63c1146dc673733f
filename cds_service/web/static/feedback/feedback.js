/* The feedback view: GET /feedback-view/data, drawn as inline SVG bar charts (no library).
 * The bearer token, when the service asks for one, is kept in this page's memory only. */
(function () {
  "use strict";

  var SVG = "http://www.w3.org/2000/svg";
  var T = {
    en: {
      title: "Card feedback",
      subtitle: "Acceptance and override rates per card kind, for clinical governance. " +
        "Counts only: feedback holds no patient data.",
      tokenLabel: "Access token (VTE_CDS_FEEDBACK_VIEW_TOKEN)", show: "Show",
      byKind: "Accepted and overridden, per card kind",
      byReason: "Override reasons, per card kind", numbers: "The figures",
      accepted: "accepted", overridden: "overridden", total: "feedback outcomes",
      acceptance: "acceptance", override: "override rate", kind: "Card kind",
      service: "Service", reason: "Override reason", count: "Count", share: "Share of overrides",
      noReason: "no coded reason", none: "No feedback recorded yet.",
      noOverrides: "No card was overridden.", loading: "Loading…",
      failed: "The service answered ", needToken: "This view needs its access token.",
      generated: "Generated "
    },
    zh: {
      title: "卡片反馈",
      subtitle: "各类卡片的接受率与忽略率，供临床质控使用。仅含计数：反馈不含患者数据。",
      tokenLabel: "访问令牌（VTE_CDS_FEEDBACK_VIEW_TOKEN）", show: "显示",
      byKind: "各类卡片的接受与忽略", byReason: "各类卡片的忽略理由", numbers: "数据",
      accepted: "接受", overridden: "忽略", total: "条反馈结果",
      acceptance: "接受率", override: "忽略率", kind: "卡片类型",
      service: "服务", reason: "忽略理由", count: "次数", share: "占忽略比例",
      noReason: "无编码理由", none: "尚无反馈记录。",
      noOverrides: "没有被忽略的卡片。", loading: "加载中…",
      failed: "服务返回 ", needToken: "此页面需要访问令牌。",
      generated: "生成于 "
    }
  };
  var state = { lang: "en", token: null, data: null };

  function $(id) { return document.getElementById(id); }
  function t(key) { return (T[state.lang] || T.en)[key] || T.en[key] || key; }
  function pct(x) { return Math.round(x * 1000) / 10 + "%"; }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") { node.textContent = attrs[k]; } else { node.setAttribute(k, attrs[k]); }
    });
    (children || []).forEach(function (c) {
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    });
    return node;
  }

  function svg(tag, attrs, text) {
    var node = document.createElementNS(SVG, tag);
    Object.keys(attrs || {}).forEach(function (k) { node.setAttribute(k, String(attrs[k])); });
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  function clear(node) { while (node.firstChild) { node.removeChild(node.firstChild); } }

  function reasonText(r) {
    if (r.label) { return r.label[state.lang] || r.label.en || r.code; }
    return r.code;
  }

  /* One horizontal bar per row, its label above it; each row has segments
   * {value, className, title} laid end to end, and a note to the right of the bar. */
  function barChart(id, rows, scaleMax) {
    var barW = 560, noteW = 320, rowH = 46, top = 4;
    var width = barW + noteW, height = top * 2 + rows.length * rowH;
    var chart = svg("svg", {
      id: id, role: "img", width: width, height: height,
      viewBox: "0 0 " + width + " " + height, "class": "chart"
    });
    chart.appendChild(svg("title", {}, id));
    rows.forEach(function (row, i) {
      var y = top + i * rowH;
      var g = svg("g", { "data-kind": row.kind, "class": "row" });
      g.appendChild(svg("text", { x: 0, y: y + 14, "class": "label" }, row.label));
      var x = 0;
      row.segments.forEach(function (seg) {
        var w = scaleMax ? (seg.value / scaleMax) * barW : 0;
        if (seg.value > 0) {
          var rect = svg("rect", { x: x, y: y + 20, width: Math.max(w, 1), height: 18,
            "class": "bar " + seg.className, "data-value": seg.value });
          rect.appendChild(svg("title", {}, seg.title));
          g.appendChild(rect);
        }
        x += w;
      });
      g.appendChild(svg("text", { x: x + 8, y: y + 34, "class": "value" }, row.note));
      chart.appendChild(g);
    });
    return chart;
  }

  function kindName(k) { return k.card_type + " (" + k.service_id + ")"; }

  function render() {
    document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
    document.querySelectorAll("[data-i18n]").forEach(function (n) {
      n.textContent = t(n.getAttribute("data-i18n"));
    });
    document.querySelectorAll(".lang button").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.getAttribute("data-lang") === state.lang));
    });
    var data = state.data;
    if (!data) { return; }
    var kinds = data.card_kinds || [];
    var totals = $("totals");
    clear(totals);
    totals.hidden = false;
    totals.appendChild(el("p", {}, [
      el("strong", { id: "total-count", text: String(data.totals.total) }), " " + t("total") + " · " +
      t("accepted") + " " + data.totals.accepted + " · " + t("overridden") + " " +
      data.totals.overridden + " · " + t("acceptance") + " " + pct(data.totals.acceptance_rate)]));
    totals.appendChild(el("p", { "class": "muted", text: t("generated") + data.generated_at }));
    $("acceptance").hidden = false;
    $("reasons").hidden = false;
    $("table-panel").hidden = false;
    var box = $("acceptance-box");
    clear(box);
    if (!kinds.length) {
      box.appendChild(el("p", { "class": "muted", id: "no-feedback", text: t("none") }));
    } else {
      var max = Math.max.apply(null, kinds.map(function (k) { return k.total; }));
      box.appendChild(barChart("acceptance-chart", kinds.map(function (k) {
        return {
          kind: k.card_type, label: kindName(k),
          note: t("acceptance") + " " + pct(k.acceptance_rate) + " · " + t("override") + " " +
            pct(k.override_rate) + " (n=" + k.total + ")",
          segments: [
            { value: k.accepted, className: "accepted", title: t("accepted") + ": " + k.accepted },
            { value: k.overridden, className: "overridden", title: t("overridden") + ": " + k.overridden }
          ]
        };
      }), max));
      box.appendChild(el("p", { "class": "legend" }, [
        el("span", { "class": "swatch accepted" }), " " + t("accepted") + "  ",
        el("span", { "class": "swatch overridden" }), " " + t("overridden")]));
    }
    var rbox = $("reasons-box");
    clear(rbox);
    var rows = [];
    kinds.forEach(function (k) {
      k.override_reasons.forEach(function (r) {
        rows.push({ kind: k.card_type, label: k.card_type + ": " + reasonText(r), note: r.count +
          " (" + pct(r.rate) + ")", segments: [{ value: r.count, className: "reason",
            title: reasonText(r) + ": " + r.count }] });
      });
      if (k.overrides_without_reason > 0) {
        rows.push({ kind: k.card_type, label: k.card_type + ": " + t("noReason"),
          note: String(k.overrides_without_reason), segments: [{ value: k.overrides_without_reason,
            className: "reason uncoded", title: t("noReason") }] });
      }
    });
    if (!rows.length) {
      rbox.appendChild(el("p", { "class": "muted", text: t("noOverrides") }));
    } else {
      var rmax = Math.max.apply(null, rows.map(function (r) { return r.segments[0].value; }));
      rbox.appendChild(barChart("reasons-chart", rows, rmax));
    }
    var tbox = $("table-box");
    clear(tbox);
    var head = el("tr", {}, [t("service"), t("kind"), t("accepted"), t("overridden"),
      t("acceptance"), t("override")].map(function (h) { return el("th", { text: h }); }));
    var body = kinds.map(function (k) {
      return el("tr", { "data-kind": k.card_type }, [k.service_id, k.card_type, String(k.accepted),
        String(k.overridden), pct(k.acceptance_rate), pct(k.override_rate)].map(function (c) {
        return el("td", { text: c });
      }));
    });
    tbox.appendChild(el("table", { "class": "figures" }, [el("thead", {}, [head]),
      el("tbody", {}, body)]));
  }

  async function load() {
    $("status").textContent = t("loading");
    var headers = { Accept: "application/json" };
    if (state.token) { headers.Authorization = "Bearer " + state.token; }
    var response, body = null;
    try {
      response = await fetch("/feedback-view/data", { headers: headers, credentials: "omit" });
      try { body = await response.json(); } catch (e) { body = null; }
    } catch (e) {
      $("status").textContent = t("failed") + String(e);
      return;
    }
    if (response.status === 401) {
      $("token-form").hidden = false;
      $("status").textContent = t("needToken");
      document.body.setAttribute("data-state", "token");
      return;
    }
    if (!response.ok || !body) {
      $("status").textContent = t("failed") + response.status +
        (body && body.message ? ": " + body.message : "");
      document.body.setAttribute("data-state", "error");
      return;
    }
    $("token-form").hidden = true;
    $("status").textContent = "";
    state.data = body;
    render();
    document.body.setAttribute("data-state", "ready");
  }

  function init() {
    document.querySelectorAll(".lang button").forEach(function (b) {
      b.addEventListener("click", function () { state.lang = b.getAttribute("data-lang"); render(); });
    });
    $("token-form").addEventListener("submit", function (event) {
      event.preventDefault();
      state.token = $("token").value.trim() || null;
      load();
    });
    render();
    load();
  }

  document.addEventListener("DOMContentLoaded", init);
}());
