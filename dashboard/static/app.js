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
      button.textContent = "Copied";
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

  function realtime(panel) {
    var url = panel.getAttribute("data-url");
    var visitors = document.getElementById("rt-visitors");
    var pageviews = document.getElementById("rt-pageviews");
    var svg = document.getElementById("rt-minutes");
    var interval = Number(panel.getAttribute("data-interval") || 5000);
    function tick() {
      if (document.hidden) return;
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (data) {
          if (!data) return;
          visitors.textContent = data.visitors.toLocaleString("en");
          pageviews.textContent = data.pageviews.toLocaleString("en");
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
