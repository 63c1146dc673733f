/* A tiny Markdown renderer for the subset vte-cds cards use: **bold**, pipe tables,
 * bullet lists (nested by indentation) and paragraphs. Everything is HTML-escaped first, so
 * card text can never inject markup; only the tags below are ever produced. */
(function () {
  "use strict";

  function escapeHtml(text) {
    return String(text)
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");
  }

  // Input is already escaped; only **bold** becomes markup.
  function inline(text) {
    return text.replace(/\*\*(.+?)\*\*/g, "<strong>$1</strong>");
  }

  var TABLE_RULE = /^\s*\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$/;
  var LIST_ITEM = /^(\s*)[-*+]\s+(.*)$/;

  function cells(line) {
    var inner = line.trim().replace(/^\|/, "").replace(/\|$/, "");
    return inner.split("|").map(function (c) { return inline(c.trim()); });
  }

  function isTableStart(lines, i) {
    return /^\s*\|/.test(lines[i]) && i + 1 < lines.length && TABLE_RULE.test(lines[i + 1]);
  }

  function table(lines, i, out) {
    var head = cells(lines[i]);
    var html = "<table><thead><tr>" +
      head.map(function (c) { return "<th>" + c + "</th>"; }).join("") + "</tr></thead><tbody>";
    i += 2;
    while (i < lines.length && /^\s*\|/.test(lines[i])) {
      html += "<tr>" + cells(lines[i]).map(function (c) { return "<td>" + c + "</td>"; })
        .join("") + "</tr>";
      i += 1;
    }
    out.push(html + "</tbody></table>");
    return i;
  }

  function list(lines, i, out) {
    var html = "";
    var stack = [];  // indentation of each open <ul>
    while (i < lines.length) {
      var m = LIST_ITEM.exec(lines[i]);
      if (!m) { break; }
      var depth = m[1].replace(/\t/g, "    ").length;
      var text = inline(m[2]);
      if (stack.length === 0 || depth > stack[stack.length - 1]) {
        html += "<ul><li>" + text;
        stack.push(depth);
      } else {
        while (stack.length > 1 && depth < stack[stack.length - 1]) {
          html += "</li></ul>";
          stack.pop();
        }
        html += "</li><li>" + text;
      }
      i += 1;
    }
    while (stack.length) { html += "</li></ul>"; stack.pop(); }
    out.push(html);
    return i;
  }

  function render(source) {
    var lines = escapeHtml(source == null ? "" : source).split(/\r?\n/);
    var out = [];
    var para = [];
    function flush() {
      if (para.length) { out.push("<p>" + inline(para.join(" ")) + "</p>"); para = []; }
    }
    var i = 0;
    while (i < lines.length) {
      var line = lines[i];
      if (!line.trim()) { flush(); i += 1; }
      else if (isTableStart(lines, i)) { flush(); i = table(lines, i, out); }
      else if (LIST_ITEM.test(line)) { flush(); i = list(lines, i, out); }
      else { para.push(line.trim()); i += 1; }
    }
    flush();
    return out.join("\n");
  }

  window.VteMarkdown = { render: render, escapeHtml: escapeHtml };
}());
