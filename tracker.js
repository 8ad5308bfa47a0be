/* Crumbless tracker: page views and custom events, no cookies, no storage, no fingerprinting.
 * <script defer src="https://HOST/script.js" data-website-id="SITE-ID"></script>
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script) return;
  var website = script.getAttribute("data-website-id");
  var host = (script.getAttribute("data-host-url") || new URL(script.src).origin).replace(/\/$/, "");
  var endpoint = host + "/api/send";
  var lastPath = null;

  function send(name, data) {
    var payload = {
      website: website,
      hostname: location.hostname,
      url: location.pathname + location.search,
      referrer: document.referrer,
      screen: screen.width + "x" + screen.height,
      language: navigator.language
    };
    if (name) { payload.name = name; payload.data = data || undefined; }
    var body = JSON.stringify({ type: "event", payload: payload });
    try {
      fetch(endpoint, { method: "POST", body: body, keepalive: true, credentials: "omit",
                        headers: { "Content-Type": "text/plain" } }).catch(function () {});
    } catch (e) {
      if (navigator.sendBeacon) navigator.sendBeacon(endpoint, body);
    }
  }

  function pageview() {
    if (location.pathname === lastPath) return;
    lastPath = location.pathname;
    send();
  }

  ["pushState", "replaceState"].forEach(function (method) {
    var original = history[method];
    history[method] = function () {
      var result = original.apply(this, arguments);
      pageview();
      return result;
    };
  });
  addEventListener("popstate", pageview);
  window.crumbless = { track: function (name, data) { send(String(name), data); } };
  pageview();
})();
