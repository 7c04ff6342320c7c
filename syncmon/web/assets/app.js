/*
 * SyncScript Monitor dashboard: progressive enhancement only. Every page works without it.
 *
 * - forms marked data-autosubmit submit when one of their selects changes (project, range);
 * - forms (or their buttons) with data-confirm ask before submitting;
 * - buttons with data-copy="<id>" copy that element's text (a token shown once);
 * - live updates: when <body data-live-url="/live?..."> is set, the page subscribes to that
 *   Server-Sent Events stream; after each committed batch it re-fetches itself and swaps in
 *   the fresh contents of every element marked data-live-region="<name>". A page author
 *   only adds those attributes. [data-live-status] shows whether the stream is connected.
 *   With <body data-live-on-heartbeat="1"> the page also re-fetches itself at each heartbeat
 *   (a quiet stream): what changes without new events, such as an alert whose `for:` ran
 *   out or one evaluated just after the batch that woke the page, shows within one beat.
 *
 * Loaded as an external file: the Content-Security-Policy allows no inline script.
 */
(function () {
  "use strict";

  document.documentElement.classList.add("js");

  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest("form[data-autosubmit]");
    if (form && event.target.tagName === "SELECT") {
      if (form.requestSubmit) { form.requestSubmit(); } else { form.submit(); }
    }
  });

  document.addEventListener("submit", function (event) {
    var form = event.target;
    var message = form.getAttribute("data-confirm") ||
      (event.submitter && event.submitter.getAttribute("data-confirm"));
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  }, true);

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-copy]");
    if (!button || !navigator.clipboard) { return; }
    var source = document.getElementById(button.getAttribute("data-copy"));
    if (!source) { return; }
    navigator.clipboard.writeText(source.textContent.trim()).then(function () {
      button.textContent = "Copied";
    });
  });

  function liveUpdates(url) {
    var status = document.querySelector("[data-live-status]");
    var minGapMs = Number(document.body.getAttribute("data-live-interval") || 1000);
    var timer = null;
    var running = false;
    var pending = false;
    var lastRun = 0;

    function show(state, text) {
      if (!status) { return; }
      status.hidden = false;
      status.setAttribute("data-state", state);
      status.textContent = text;
    }

    function swapRegions(html) {
      var fresh = new DOMParser().parseFromString(html, "text/html");
      document.querySelectorAll("[data-live-region]").forEach(function (region) {
        var name = region.getAttribute("data-live-region");
        var replacement = Array.prototype.find.call(
          fresh.querySelectorAll("[data-live-region]"),
          function (candidate) { return candidate.getAttribute("data-live-region") === name; }
        );
        if (replacement) {
          region.replaceChildren.apply(region, Array.prototype.map.call(
            replacement.childNodes, function (node) { return document.importNode(node, true); }
          ));
        }
      });
      var count = Number(document.body.getAttribute("data-live-refreshes") || 0) + 1;
      document.body.setAttribute("data-live-refreshes", String(count));
      document.dispatchEvent(new CustomEvent("syncmon:live-refreshed"));
    }

    function refresh() {
      if (running) { pending = true; return; }
      running = true;
      lastRun = Date.now();
      fetch(window.location.href, {
        credentials: "same-origin",
        cache: "no-store",
        headers: { "Accept": "text/html", "X-Live-Refresh": "1" },
        redirect: "manual"
      }).then(function (response) {
        if (response.type === "opaqueredirect" || response.status === 401) {
          show("ended", "Logged out");
          source.close();
          return null;
        }
        return response.ok ? response.text() : null;
      }).then(function (html) {
        if (html) { swapRegions(html); }
      }).catch(function () {
        show("reconnecting", "Reconnecting…");
      }).then(function () {
        running = false;
        if (pending) { pending = false; schedule(); }
      });
    }

    function schedule() {
      if (timer !== null) { return; }
      var wait = Math.max(0, lastRun + minGapMs - Date.now());
      timer = window.setTimeout(function () { timer = null; refresh(); }, wait);
    }

    var source = new EventSource(url, { withCredentials: true });
    source.addEventListener("hello", function () { show("live", "Live"); });
    var onHeartbeat = document.body.getAttribute("data-live-on-heartbeat") === "1";
    source.addEventListener("heartbeat", function () {
      show("live", "Live");
      if (onHeartbeat) { schedule(); }
    });
    source.addEventListener("batch", function () { show("live", "Live"); schedule(); });
    source.addEventListener("error", function () {
      show("reconnecting", "Reconnecting…");
    });
  }

  var liveUrl = document.body && document.body.getAttribute("data-live-url");
  if (liveUrl && window.EventSource && document.querySelector("[data-live-region]")) {
    liveUpdates(liveUrl);
  }
}());
