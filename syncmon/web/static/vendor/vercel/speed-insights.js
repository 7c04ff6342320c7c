/*!
 * syncmon: a stand-in for Vercel Speed Insights' hosted script (/_vercel/speed-insights/script.js).
 * Written for syncmon (MIT), not Vercel's code; see README.md in this directory. The server
 * serves it after web-vitals.attribution.iife.js (web-vitals, Apache-2.0), both inside one
 * function, so `webVitals` below is that library and no global is left behind.
 *
 * It speaks the same protocol as Vercel's script 0.1.3: it answers window.si(...) and replays
 * window.siq, measures CLS, INP, LCP, FCP and TTFB, and posts
 * {speed, metrics: [{id, type, route, href, value, attribution}], scriptVersion, sdkName,
 * sdkVersion} as text/plain to data-endpoint (else next to this script, carrying its ?key=),
 * six metrics at a time or when the page is hidden or navigates.
 */
(function (webVitals) {
  "use strict";
  if (window.sil || !webVitals) return;
  window.sil = true;

  var VERSION = "syncmon-1";
  var script = document.currentScript;
  var data = (script && script.dataset) || {};
  var scriptUrl = null;
  try {
    scriptUrl = script && script.src ? new URL(script.src, location.href) : null;
  } catch (e) {}
  var key = scriptUrl ? scriptUrl.searchParams.get("key") : null;

  function withKey(url) {
    if (!key) return url;
    try {
      var u = new URL(url, location.href);
      if (!u.searchParams.has("key")) u.searchParams.set("key", key);
      return u.href;
    } catch (e) {
      return url;
    }
  }

  var endpoint = data.endpoint
    ? withKey(data.endpoint)
    : scriptUrl
      ? withKey(new URL("vitals", scriptUrl).href)
      : "/_vercel/speed-insights/vitals";
  var sampleRate = Number(data.sampleRate === undefined ? 1 : data.sampleRate);
  if (!(sampleRate === 1 || Math.random() <= sampleRate)) return;

  var beforeSend = null;
  var queue = [];

  function speed() {
    var connection = navigator.connection;
    return (connection && connection.effectiveType) || "";
  }

  function href() {
    var current = location.href;
    if (data.path) {
      var u = new URL(current);
      if (u.pathname !== data.path) {
        u.pathname = data.path;
        u.search = "";
        return u.href;
      }
    }
    return current;
  }

  function floor(value, digits) {
    if (Number.isInteger(value)) return value;
    var scale = Math.pow(10, digits);
    return Math.floor(value * scale) / scale;
  }

  function rounded(metric) {
    if (metric.name === "CLS") return floor(metric.value, 4);
    if (metric.name === "FID") return floor(metric.value, 2);
    return Math.round(metric.value);
  }

  function attribution(metric) {
    var a = metric.attribution || {};
    if (metric.name === "CLS") return { eventTarget: a.largestShiftTarget };
    if (metric.name === "INP" || metric.name === "FID") {
      return { eventTarget: a.interactionTarget || a.eventTarget, eventType: a.interactionType || a.eventType };
    }
    if (metric.name === "LCP") return { eventTarget: a.target || a.element };
    return undefined;
  }

  function flush() {
    if (!queue.length) return;
    var metrics = [];
    for (var i = 0; i < queue.length; i++) {
      var item = queue[i];
      if (beforeSend) {
        var changed;
        try {
          changed = beforeSend({ type: "vital", url: item.href, route: item.route });
        } catch (e) {
          changed = { url: item.href };
        }
        if (!changed) continue;
        item.href = changed.url;
      }
      metrics.push(item);
    }
    queue = [];
    if (!metrics.length) return;
    var body = JSON.stringify({
      speed: speed(),
      metrics: metrics,
      scriptVersion: VERSION,
      sdkName: (script && script.getAttribute("data-sdkn")) || undefined,
      sdkVersion: (script && script.getAttribute("data-sdkv")) || undefined,
    });
    var blob = new Blob([body], { type: "text/plain" });
    try {
      if (typeof Request === "function" && "keepalive" in Request.prototype) {
        fetch(endpoint, { method: "POST", body: blob, keepalive: true, mode: "no-cors", credentials: "omit" })[
          "catch"
        ](function () {});
      } else if (navigator.sendBeacon) {
        navigator.sendBeacon(endpoint, blob);
      }
    } catch (e) {}
  }

  function record(metric) {
    queue.push({
      id: metric.id,
      type: metric.name,
      route: data.route,
      href: href(),
      value: rounded(metric),
      attribution: attribution(metric),
    });
    if (queue.length === 6) flush();
  }

  webVitals.onCLS(record);
  webVitals.onINP(record);
  webVitals.onLCP(record);
  webVitals.onFCP(record);
  webVitals.onTTFB(record);
  addEventListener("visibilitychange", flush);
  addEventListener("pagehide", flush);
  addEventListener("popstate", flush);
  var pushState = history.pushState;
  history.pushState = function () {
    var result = pushState.apply(this, arguments);
    try {
      flush();
    } catch (e) {}
    return result;
  };

  window.si = function (command, props) {
    if (command === "beforeSend") beforeSend = typeof props === "function" ? props : null;
  };
  var queued = window.siq || [];
  for (var i = 0; i < queued.length; i++) {
    try {
      window.si(queued[i][0], queued[i][1]);
    } catch (e) {}
  }
})(typeof webVitals === "undefined" ? null : webVitals);
