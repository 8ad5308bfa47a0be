// Crumbless dashboard: copy buttons and the realtime panel. Served from 'self' (strict CSP);
// every number is already on the page, this only keeps realtime fresh.
(function () {
  "use strict";

  function copy(button) {
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) return;
    var text = source.textContent.trim();
    var done = function () {
      var label = button.textContent;
      button.textContent = button.getAttribute("data-copied") || "Copied";  // in the page's language
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { select(source); });
    } else {
      select(source);
      try { if (document.execCommand("copy")) done(); } catch (e) { /* the text stays selected */ }
    }
  }

  function select(node) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  }

  function drawMinutes(svg, perMinute) {
    var top = Math.max.apply(null, perMinute.concat([1]));
    var rects = svg.querySelectorAll("rect");
    for (var i = 0; i < rects.length && i < perMinute.length; i++) {
      var h = (100 * perMinute[i]) / top;
      rects[i].setAttribute("y", (100 - h).toFixed(2));
      rects[i].setAttribute("height", h.toFixed(2));
      var title = rects[i].querySelector("title");
      if (title) title.textContent = String(perMinute[i]);
    }
  }

  // The words after a number, in the plural form the page's language wants for it: the server
  // writes each form (data-one, data-many, data-other) from its catalog, CLDR's rules pick one.
  function pluralWords(node, n, lang) {
    if (!node) return;
    var form = window.Intl && Intl.PluralRules ? new Intl.PluralRules(lang).select(n) : (n === 1 ? "one" : "other");
    var text = node.getAttribute("data-" + form) || node.getAttribute("data-other");
    if (text) node.textContent = text;
  }

  function realtime(panel) {
    var url = panel.getAttribute("data-url");
    var visitors = document.getElementById("rt-visitors");
    var pageviews = document.getElementById("rt-pageviews");
    var svg = document.getElementById("rt-minutes");
    var interval = Number(panel.getAttribute("data-interval") || 5000);
    var lang = document.documentElement.lang || "en";  // numbers as the server wrote them (CLDR, like Intl)
    function tick() {
      if (document.hidden) return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          visitors.textContent = data.visitors.toLocaleString(lang);
          pageviews.textContent = data.pageviews.toLocaleString(lang);
          pluralWords(document.getElementById("rt-visitors-words"), data.visitors, lang);
          pluralWords(document.getElementById("rt-pageviews-words"), data.pageviews, lang);
          if (svg) drawMinutes(svg, data.pageviews_per_minute);
          panel.setAttribute("data-updated", String(Date.now()));
        })
        .catch(function () { /* try again at the next tick */ });
    }
    setInterval(tick, interval);
    document.addEventListener("visibilitychange", tick);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("button[data-copy]").forEach(function (b) {
      b.addEventListener("click", function () { copy(b); });
    });
    var panel = document.getElementById("realtime");
    if (panel && window.fetch) realtime(panel);
  });
})();
