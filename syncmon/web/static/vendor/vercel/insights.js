/*!
 * syncmon: a stand-in for Vercel Web Analytics' hosted script (/_vercel/insights/script.js).
 * Written for syncmon (MIT), not Vercel's code; see README.md in this directory.
 *
 * It speaks the same protocol as Vercel's script 0.1.3: it answers window.va(...) and
 * replays the window.vaq queue that @vercel/analytics fills, and posts
 * {o, sv, sdkn, sdkv, ts, dp?, r?, en?, ed?} to <endpoint>/view and <endpoint>/event.
 * Differences: bodies go as text/plain (a CORS-simple request, no preflight); headless
 * browsers are not skipped (the server marks bots itself); the seed's
 * va('track', {name, ...properties}) is sent as a custom event; and without a configured
 * endpoint, events go next to this script, carrying its ?key= if it has one.
 */
(function () {
  "use strict";
  if (window.vai) return;
  window.vai = true;

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

  function endpoint(kind) {
    if (data[kind + "Endpoint"]) return withKey(data[kind + "Endpoint"]);
    if ("endpoint" in data) return withKey(data.endpoint + "/" + kind);
    if (scriptUrl) return withKey(new URL(kind, scriptUrl).href);
    return "/_vercel/insights/" + kind;
  }

  var viewUrl = endpoint("view");
  var eventUrl = endpoint("event");
  var sessionUrl = endpoint("session");
  var beforeSend = null;
  var route = null;
  var path = null;
  var firstView = true;

  function currentUrl() {
    var href = location.href;
    if (path) {
      var u = new URL(href);
      if (u.pathname !== path) {
        u.pathname = path;
        u.search = "";
        return u.href;
      }
    }
    return href;
  }

  function post(url, body) {
    var text = JSON.stringify(body);
    try {
      if (typeof fetch === "function") {
        fetch(url, { method: "POST", body: text, keepalive: true, mode: "no-cors", credentials: "omit" })[
          "catch"
        ](function () {});
        return;
      }
    } catch (e) {}
    try {
      if (navigator.sendBeacon) navigator.sendBeacon(url, text);
    } catch (e) {}
  }

  function send(type, payload, options) {
    var url = currentUrl();
    if (beforeSend) {
      var changed;
      try {
        changed = beforeSend({ type: type, url: url, payload: payload });
      } catch (e) {
        changed = undefined;
      }
      if (changed === false || changed === null) return;
      if (changed) {
        url = changed.url || url;
        if (changed.payload !== undefined && changed.payload !== null) payload = changed.payload;
      }
    }
    var referrer = document.referrer;
    var body = { o: url, sv: VERSION, sdkn: data.sdkn, sdkv: data.sdkv, ts: Date.now() };
    if (route) body.dp = route;
    if (options && options.withReferrer && referrer && referrer.indexOf(location.host) === -1) body.r = referrer;
    if (type === "event" && payload) {
      body.en = payload.name;
      if (payload.data !== undefined) body.ed = payload.data;
    }
    post(type === "pageview" ? viewUrl : eventUrl, body);
  }

  function pageview(withReferrer) {
    send("pageview", undefined, { withReferrer: withReferrer });
  }

  window.va = function (command, props) {
    if (command === "beforeSend") {
      beforeSend = typeof props === "function" ? props : null;
    } else if (command === "event") {
      if (props) send("event", { name: props.name, data: props.data }, { withReferrer: true });
    } else if (command === "track") {
      // The seed's VercelAnalytics: va('track', {name, ...properties}).
      if (props && props.name) {
        var rest = {};
        for (var k in props) {
          if (k !== "name" && Object.prototype.hasOwnProperty.call(props, k)) rest[k] = props[k];
        }
        send("event", { name: String(props.name), data: rest }, { withReferrer: true });
      }
    } else if (command === "pageview") {
      if (props) {
        if (props.route) route = props.route;
        if (props.path) path = props.path;
        pageview(firstView);
        firstView = false;
      }
    } else if (command === "enableCookie") {
      try {
        fetch(sessionUrl, { method: "GET", keepalive: true, mode: "no-cors", credentials: "omit" })[
          "catch"
        ](function () {});
      } catch (e) {}
    }
  };

  var queued = window.vaq || [];
  for (var i = 0; i < queued.length; i++) {
    try {
      window.va(queued[i][0], queued[i][1]);
    } catch (e) {}
  }

  if (data.disableAutoTrack) return;
  pageview(true);
  var last = currentUrl();

  function samePath(u) {
    return u.pathname === new URL(last).pathname;
  }

  function navigated(to) {
    var u = null;
    if (to) u = typeof to === "string" ? new URL(to, location.origin) : new URL(to.href);
    if (!u || samePath(u)) return;
    pageview(false);
  }

  var pushState = history.pushState;
  history.pushState = function () {
    var result = pushState.apply(this, arguments);
    try {
      navigated(arguments[2]);
      last = currentUrl();
    } catch (e) {}
    return result;
  };
  addEventListener("popstate", function () {
    try {
      navigated(currentUrl());
      last = currentUrl();
    } catch (e) {}
  });
})();
