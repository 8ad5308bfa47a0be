/* Crumbless tracker. Readable source: the server minifies it once at start (the minifier shortens
 * local names, so name things clearly here) and serves it compressed.
 *
 *   <script defer src="https://HOST/js/site.js" data-website-id="SITE-ID"></script>
 *
 * Options (data-* attributes of the script tag), the wire format and the reasons behind both:
 * docs/tracker.md. What leaves the browser: the page URL, the referrer, the screen width, and
 * event names and properties. Nothing is stored in it (no cookies, no localStorage,
 * sessionStorage or IndexedDB) and nothing is probed (no fingerprinting).
 *
 * Syntax up to ES2019 (what the server's minifier is told to emit), browser APIs of the ES2017
 * era. Every byte is served to every visitor (budget: 1,200 bytes gzipped, enforced by
 * tests/test_tracker_serving.py), so the code prefers short expressions; the comments say what
 * they mean. Measure before restructuring: gzip rewards repetition, so a helper that removes
 * repeated text (say, for addEventListener) can make the served script larger.
 */
(function (win, doc, nav, loc, script) {
  // No current script (a module script, or code evaluated by a loader): no options, no counting.
  if (!script) return;
  var options = script.dataset,
    // The server writes its CRUMBLESS_COLLECT_PATH here when it loads this file.
    COLLECT_PATH = "/api/p",
    endpoint = (options.hostUrl || new URL(script.src).origin) + COLLECT_PATH,
    // Switches are on when present, whatever their value (like HTML's boolean attributes).
    // The fragment is sent only in hash mode, where it is the page; so data-exclude-hash (from
    // Umami, which sends it by default) needs no code here.
    keepHash = "hash" in options,
    keepSearch = !("excludeSearch" in options),
    // Documents, spreadsheets and slides (Microsoft and OpenDocument), data, archives and media:
    // what the sites Crumbless is for offer. Software downloads need data-file-types.
    fileTypes = (options.fileTypes || "pdf,doc,docx,xls,xlsx,ppt,pptx,odt,ods,odp,csv,zip,mp3,mp4").split(/, */),
    // Decided once: a page that must not be measured sends nothing, and its API still works.
    // (A file: page has an empty host name, which the last, empty branch of the pattern matches.)
    off =
      !("allowLocal" in options) && /^(localhost|127\.|\[::1]|$)/.test(loc.hostname) ||
      options.domains && options.domains.split(/, */).indexOf(loc.hostname) < 0 ||
      "respectDnt" in options && (nav.doNotTrack == 1 || nav.globalPrivacyControl),
    // The page being measured: `page` is its URL as reported, `key` what makes it another page.
    page,
    key,
    engagedMs = 0,
    activeSince = 0,
    depth = 0,
    sentDepth = 0;

  // The path, the query if asked for, and the fragment in hash mode.
  function address(withSearch) {
    return loc.pathname + (withSearch ? loc.search : "") + (keepHash ? loc.hash : "");
  }

  // Plausible's fields (n name, u url, r referrer, w screen width, h hash mode, p props,
  // e engaged ms, sd scroll %) and id, the website id.
  function send(type, fields) {
    try {
      var body = Object.assign({ n: type, u: page, r: doc.referrer, w: screen.width, h: keepHash, id: options.websiteId }, fields),
        hook = win[options.beforeSend],
        json;
      // data-before-send names a global function that may edit the body, or cancel it (falsy).
      if (hook) body = hook(type, body);
      // Nothing leaves a page that must not be measured or is still being prerendered. A string
      // body goes as text/plain: no CORS preflight. The collector answers every beacon with CORS
      // headers, so a rejection means the request did not get through.
      off ||
        doc.prerendering ||
        !body ||
        fetch(endpoint, { method: "POST", body: json = JSON.stringify(body), keepalive: 1, credentials: "omit" }).catch(() => nav.sendBeacon(endpoint, json));
    } catch (e) {
      // Never break the page being measured.
    }
  }

  // ── engagement: time visible and focused since the last ping, and the deepest scroll ──

  function measure() {
    depth = Math.max(depth, Math.min(100, (scrollY + innerHeight) * 100 / doc.documentElement.scrollHeight | 0));
  }

  // When the page is hidden, left, blurred or focused, and before each SPA navigation (routers
  // render the next page after pushState, so the page left is still the one measured). Skipped
  // when nothing changed. The depth is the page view's deepest so far: the collector keeps one
  // scroll sample per page view and raises it in place. Afterwards the clock runs from now if
  // the page is visible and focused.
  function engagement() {
    var now = Date.now();
    measure();
    engagedMs += activeSince && now - activeSince;
    activeSince = !doc.hidden && doc.hasFocus() && now;
    if (page && (engagedMs || depth > sentDepth)) send("engagement", { e: engagedMs, sd: depth });
    engagedMs = 0;
    sentDepth = depth;
  }

  // ── page views: one per page; the path (or the fragment in hash mode) must change ──

  function pageview() {
    var next = address();
    if (next != key) {
      engagement();
      key = next;
      page = loc.origin + address(keepSearch);
      depth = sentDepth = 0;
      send("pageview");
    }
  }

  // A document shown (loaded, activated after prerendering, or restored from the back/forward
  // cache): a page view even when its path is the one counted last.
  function load() {
    key = 0;
    pageview();
  }

  function track(name, props) {
    send("event", { n: name, p: props });
  }

  // ── clicks: tagged elements, else outbound links, else file downloads ──

  function click(event) {
    try {
      var target = event.target,
        tagged = target.closest("[data-crumbless-event],[data-umami-event]"),
        link = target.closest("a[href]"),
        props = {},
        name;
      if (tagged) {
        // data-crumbless-event="Name" data-crumbless-event-plan="pro" → Name {plan: "pro"}
        [].forEach.call(tagged.attributes, (attribute) => {
          var match = /^data-(crumbless|umami)-event(-(.+))?$/.exec(attribute.name);
          if (match) match[3] ? (props[match[3]] = attribute.value) : (name = attribute.value);
        });
        name && track(name, props);
      } else if (link) {
        // mailto:, tel: and javascript: links have no host: they go nowhere.
        link.host != loc.host
          ? link.host && track("Outbound Link: Click", { url: link.href })
          : fileTypes.indexOf(link.pathname.split(".").pop()) < 0 || track("File Download", { url: link.origin + link.pathname });
      }
    } catch (e) {
      // Never break the page being measured.
    }
  }

  // ── wiring ──

  ["pushState", "replaceState"].forEach((method) => {
    var original = history[method];
    history[method] = function () {
      original.apply(this, arguments);
      pageview();
    };
  });
  // Outside hash mode a hashchange leaves the key as it is; one step firing both counts once.
  win.addEventListener("popstate", pageview);
  win.addEventListener("hashchange", pageview);
  win.addEventListener("pageshow", (event) => event.persisted && load());
  // The page is left: report now and stop the clock (the document turns hidden only after this).
  win.addEventListener("pagehide", () => {
    engagement();
    activeSince = 0;
  });
  win.addEventListener("visibilitychange", engagement);
  win.addEventListener("focus", engagement);
  win.addEventListener("blur", engagement);
  win.addEventListener("scroll", measure);
  // Capturing, so that a page's own stopPropagation() does not hide the click.
  win.addEventListener("click", click, 1);

  win.crumbless = { track: track };
  if ("umamiCompat" in options) win.umami = win.crumbless;

  // A prerendered page is not a visit until someone actually looks at it.
  doc.prerendering ? doc.addEventListener("prerenderingchange", load) : load();
})(window, document, navigator, location, document.currentScript);
