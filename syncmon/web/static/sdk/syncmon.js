/*! syncmon.js 1.0.0 | SyncScript Monitor browser SDK | MIT licence */
/*
 * Plain ES2017, no build step. Load it from the monitor and call Syncmon.init once:
 *
 *   <script src="https://monitor.example.com/sdk/syncmon.js"></script>
 *   <script>Syncmon.init({ key: '<public key>', release: 'web@1.4.0', environment: 'production' })</script>
 *
 * It offers the seed's client API (SecurityAnalytics, the VercelAnalytics helpers,
 * PerformanceMonitoring, ErrorMonitoring) and sends to the monitor's native batch endpoint,
 * POST <host>/api/monitoring/events?key=<public key>, as text/plain JSON (no CORS preflight).
 *
 * Guarantees: every public function catches its own failures (nothing is thrown into the
 * page); events are batched (batchSize / flushInterval); what is queued when the page is
 * hidden or unloaded goes out with navigator.sendBeacon; network errors, 408, 429 and 5xx
 * are retried with exponential backoff, honouring Retry-After; every event carries an
 * event_id, so a retried batch is stored once; Do Not Track and Global Privacy Control
 * (respectDoNotTrack, on by default) and sampleRate turn the SDK off for the page, and then
 * it sends nothing at all.
 */
(function (window) {
  'use strict';

  if (typeof window === 'undefined' || (window.Syncmon && window.Syncmon.__syncmon)) {
    return; // not a browser, or loaded twice: the first copy stays in charge
  }

  var VERSION = '1.0.0';
  var document = window.document;
  var navigator = window.navigator || {};
  var BEACON_LIMIT = 60000; // bytes; browsers allow 64 KiB of keepalive/beacon bodies in flight
  var MAX_SERVER_BATCH = 1000; // the server's default max_batch_events
  var MAX_PRE_INIT = 100;
  var MAX_ERRORS_PER_PAGE = 100;
  var MAX_SAME_ERROR = 5;
  var MAX_RETRY_AFTER = 600000;
  var SEVERITIES = ['debug', 'trace', 'info', 'low', 'log', 'notice', 'warning', 'warn', 'medium',
    'error', 'high', 'fatal', 'critical'];
  // Fields the server reads as text: a number is turned into text, anything else dropped,
  // so one odd property cannot get a whole batch refused.
  var TEXT_FIELDS = ['url', 'user_id', 'session_id', 'release', 'environment', 'user_agent', 'message',
    'filename', 'stack', 'violated_directive', 'blocked_uri', 'auth_event', 'authz_event', 'data_event',
    'api_event', 'category', 'target', 'referrer', 'title', 'unit', 'level', 'severity'];
  var RESERVED = ['kind', 'event_id', 'timestamp', 'client_ip'];

  var script = document && document.currentScript;
  var scriptOrigin = originOf(script && script.src);

  var config = null; // set by init
  var state = {
    enabled: false,
    reason: 'not initialised',
    queue: [], // [{id, json, bytes}] not yet sent
    inFlight: null, // {items, attempt, keepalive} being sent by fetch
    waiting: null, // a batch waiting for its retry
    retryTimer: null,
    flushTimer: null,
    preInit: [], // calls made before init, replayed by it
    errorCount: 0,
    errorKeys: {},
    dropped: 0,
    sent: 0,
    requests: 0,
    lifecycle: false,
    errorsOn: false,
    pageLoadOn: false,
    vitalsOn: false
  };

  // --- small helpers -------------------------------------------------------------------------

  function originOf(url) {
    try {
      var parsed = new URL(url, window.location.href);
      return /^https?:$/.test(parsed.protocol) ? parsed.origin : '';
    } catch (e) {
      return '';
    }
  }

  function warn(message, detail) {
    try {
      if (window.console && window.console.warn) {
        window.console.warn('[syncmon] ' + message, detail === undefined ? '' : detail);
      }
    } catch (e) { /* a console that throws is not our problem */ }
  }

  function debug(message, detail) {
    if (config && config.debug) warn(message, detail);
  }

  /** A public function that never throws into the page. */
  function guard(name, fn) {
    return function () {
      try {
        return fn.apply(this, arguments);
      } catch (e) {
        warn(name + ' failed', e);
        return undefined;
      }
    };
  }

  function uuid() {
    var crypto = window.crypto;
    if (crypto && typeof crypto.randomUUID === 'function') return crypto.randomUUID();
    var bytes = new Uint8Array(16);
    if (crypto && crypto.getRandomValues) crypto.getRandomValues(bytes);
    // Browsers without Web Crypto: an event id only lets the server drop a batch sent twice,
    // so it needs to be unique, not unpredictable.
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = '';
    for (var j = 0; j < 16; j++) hex += (bytes[j] + 0x100).toString(16).slice(1);
    return hex.slice(0, 8) + '-' + hex.slice(8, 12) + '-' + hex.slice(12, 16) + '-' +
      hex.slice(16, 20) + '-' + hex.slice(20);
  }

  function byteLength(text) {
    if (typeof window.TextEncoder === 'function') return new window.TextEncoder().encode(text).length;
    return text.length * 3;
  }

  function text(value, limit) {
    var out = typeof value === 'string' ? value : value === undefined || value === null ? '' : String(value);
    return out.length > limit ? out.slice(0, limit) : out;
  }

  /** A JSON-safe copy: cycles, functions, symbols, BigInts and DOM nodes cannot break a batch. */
  function plain(value, depth, seen) {
    if (value === null || typeof value === 'boolean') return value;
    if (typeof value === 'number') return isFinite(value) ? value : String(value);
    if (typeof value === 'string') return text(value, 65536);
    if (typeof value === 'bigint') return value.toString();
    if (typeof value === 'undefined' || typeof value === 'function' || typeof value === 'symbol') return undefined;
    if (value instanceof Date) return isNaN(value.getTime()) ? null : value.toISOString();
    if (value instanceof Error) return { name: value.name, message: value.message, stack: value.stack };
    if (typeof window.Node === 'function' && value instanceof window.Node) return '[' + value.nodeName + ']';
    if (depth > 8) return '[Object]';
    if (seen.indexOf(value) !== -1) return '[Circular]';
    seen.push(value);
    var out;
    if (Array.isArray(value)) {
      out = [];
      for (var i = 0; i < value.length && i < 200; i++) {
        var item = plain(value[i], depth + 1, seen);
        out.push(item === undefined ? null : item);
      }
    } else {
      out = {};
      var keys = Object.keys(value);
      for (var k = 0; k < keys.length && k < 200; k++) {
        var copied = plain(value[keys[k]], depth + 1, seen);
        if (copied !== undefined) out[keys[k]] = copied;
      }
    }
    seen.pop();
    return out;
  }

  function properties(value) {
    if (!value || typeof value !== 'object' || Array.isArray(value)) return {};
    var copy = plain(value, 0, []);
    return copy && typeof copy === 'object' && !Array.isArray(copy) ? copy : {};
  }

  /** props merged into item, keeping the fields the SDK owns and the server's types. */
  function merge(item, props) {
    var keys = Object.keys(props);
    for (var i = 0; i < keys.length; i++) {
      var key = keys[i];
      var value = props[key];
      if (RESERVED.indexOf(key) !== -1) continue;
      if (TEXT_FIELDS.indexOf(key) !== -1) {
        if (typeof value === 'number') value = String(value);
        if (typeof value !== 'string' || !value) continue;
      }
      if (key === 'fingerprint' && !(Array.isArray(value) && value.every(function (part) {
        return typeof part === 'string';
      }))) continue;
      item[key] = value;
    }
    return item;
  }

  function pageUrl() {
    try {
      return text(window.location.href, 2048);
    } catch (e) {
      return '';
    }
  }

  function hidden() {
    return !!document && document.visibilityState === 'hidden';
  }

  // --- events --------------------------------------------------------------------------------

  function baseItem(kind) {
    var item = { kind: kind, event_id: uuid(), timestamp: new Date().toISOString(), url: pageUrl() };
    if (config.release) item.release = config.release;
    if (config.environment) item.environment = config.environment;
    if (config.userId) item.user_id = config.userId;
    if (config.sessionId) item.session_id = config.sessionId;
    return item;
  }

  function enqueue(item) {
    if (!state.enabled) return;
    if (typeof config.beforeSend === 'function') {
      try {
        item = config.beforeSend(item);
      } catch (e) {
        warn('beforeSend threw; the event is sent unchanged', e);
      }
      if (!item || typeof item !== 'object') return;
    }
    var json;
    try {
      json = JSON.stringify(plain(item, 0, []));
    } catch (e) {
      debug('event dropped: it cannot be written as JSON', e);
      return;
    }
    state.queue.push({ id: item.event_id, json: json, bytes: byteLength(json) });
    while (state.queue.length > config.maxQueueSize) {
      state.queue.shift();
      state.dropped++;
    }
    if (hidden()) {
      // The page may never run a timer again; what arrives now (final web vitals, a last
      // error) leaves with a beacon as soon as the current event handler is done.
      Promise.resolve().then(guard('beacon', sendBeacons));
    } else if (state.queue.length >= config.batchSize) {
      flush();
    } else if (!state.flushTimer) {
      state.flushTimer = setTimeout(guard('flush', flush), config.flushInterval);
    }
  }

  /** Runs `fn(args)` now if init ran, or after init (a bounded number of early calls). */
  function whenReady(fn) {
    return function () {
      var args = arguments;
      if (config) return fn.apply(null, args);
      if (state.preInit.length < MAX_PRE_INIT) state.preInit.push(function () { fn.apply(null, args); });
      return undefined;
    };
  }

  // --- transport -----------------------------------------------------------------------------

  function endpoint() {
    return config.host + '/api/monitoring/events?key=' + encodeURIComponent(config.key);
  }

  function bodyOf(items) {
    var parts = [];
    for (var i = 0; i < items.length; i++) parts.push(items[i].json);
    return '[' + parts.join(',') + ']';
  }

  function flush() {
    if (state.flushTimer) {
      clearTimeout(state.flushTimer);
      state.flushTimer = null;
    }
    if (!state.enabled || state.inFlight || state.waiting || state.queue.length === 0) return;
    send({ items: state.queue.splice(0, config.batchSize), attempt: 0, keepalive: false });
  }

  function afterBatch() {
    state.inFlight = null;
    if (state.queue.length >= config.batchSize) flush();
    else if (state.queue.length && !state.flushTimer) {
      state.flushTimer = setTimeout(guard('flush', flush), config.flushInterval);
    }
  }

  function send(batch) {
    var body = bodyOf(batch.items);
    batch.keepalive = byteLength(body) <= BEACON_LIMIT;
    state.inFlight = batch;
    state.requests++;
    var request;
    try {
      request = window.fetch(endpoint(), {
        method: 'POST',
        body: body,
        headers: { 'Content-Type': 'text/plain;charset=UTF-8' },
        keepalive: batch.keepalive,
        credentials: 'omit',
        mode: 'cors'
      });
    } catch (e) {
      request = Promise.reject(e);
    }
    request.then(
      guard('response', function (response) { return handleResponse(batch, response); }),
      guard('network error', function (error) {
        debug('network error; will retry', error);
        retryLater(batch, null);
      })
    );
  }

  function handleResponse(batch, response) {
    if (state.inFlight !== batch) return; // a beacon took over this batch when the page was hidden
    var status = response.status;
    if (status >= 200 && status < 300) {
      state.sent += batch.items.length;
      afterBatch();
      return;
    }
    if (status === 408 || status === 429 || status >= 500) {
      retryLater(batch, response.headers.get('Retry-After'));
      return;
    }
    if (status === 400 && batch.items.length > 1) {
      // The server refuses a batch whole and names the item: drop that one, send the rest.
      return response.json().then(function (reply) {
        var match = /^events\[(\d+)\]/.exec((reply && (reply.field || reply.error)) || '');
        var index = match ? Number(match[1]) : -1;
        if (state.inFlight !== batch) return;
        if (index < 0 || index >= batch.items.length) return dropBatch(batch, status);
        debug('event refused by the server and dropped', reply);
        state.dropped++;
        batch.items.splice(index, 1);
        send(batch);
      }).catch(guard('response', function () {
        if (state.inFlight === batch) dropBatch(batch, status);
      }));
    }
    if (status === 413 && batch.items.length > 1) {
      var half = Math.ceil(batch.items.length / 2);
      state.queue = batch.items.slice(half).concat(state.queue);
      batch.items = batch.items.slice(0, half);
      send(batch);
      return;
    }
    if (status === 401 || status === 403) {
      warn('the monitor refused the key or this origin (HTTP ' + status + '); nothing more is sent');
      disable('refused by the server (HTTP ' + status + ')');
    }
    dropBatch(batch, status);
  }

  function dropBatch(batch, status) {
    debug('batch dropped (HTTP ' + status + ')');
    state.dropped += batch.items.length;
    afterBatch();
  }

  /** The wait before retry number `attempt`: Retry-After when the server gave one, else
   * exponential backoff with jitter. */
  function retryDelay(attempt, retryAfter, now) {
    if (retryAfter) {
      var seconds = /^\s*\d+\s*$/.test(retryAfter) ? Number(retryAfter) * 1000 : Date.parse(retryAfter) - now;
      if (isFinite(seconds)) return Math.min(Math.max(seconds, 0), MAX_RETRY_AFTER);
    }
    var ceiling = Math.min(config.retryMaxDelay, config.retryBaseDelay * Math.pow(2, attempt - 1));
    return ceiling / 2 + Math.random() * ceiling / 2;
  }

  function retryLater(batch, retryAfter) {
    if (state.inFlight !== batch) return;
    state.inFlight = null;
    batch.attempt++;
    if (batch.attempt > config.maxRetries) {
      dropBatch(batch, 'retries exhausted');
      return;
    }
    var delay = retryDelay(batch.attempt, retryAfter, Date.now());
    debug('retrying in ' + Math.round(delay) + ' ms (attempt ' + batch.attempt + ')');
    state.waiting = batch;
    state.retryTimer = setTimeout(guard('retry', function () {
      state.retryTimer = null;
      state.waiting = null;
      if (state.enabled) send(batch);
    }), delay);
  }

  /** Everything not yet delivered, now, with sendBeacon: the page is being hidden or left. */
  function sendBeacons() {
    if (!state.enabled) return;
    var items = [];
    if (state.waiting) {
      clearTimeout(state.retryTimer);
      state.retryTimer = null;
      items = state.waiting.items;
      state.waiting = null;
    }
    if (state.inFlight && !state.inFlight.keepalive) {
      // A plain fetch dies with the page; the beacon repeats it (event ids make that safe).
      items = items.concat(state.inFlight.items);
      state.inFlight = null;
    }
    items = items.concat(state.queue.splice(0));
    if (state.flushTimer) {
      clearTimeout(state.flushTimer);
      state.flushTimer = null;
    }
    var chunk = [];
    var size = 2;
    for (var i = 0; i <= items.length; i++) {
      var item = items[i];
      var full = item && (chunk.length >= MAX_SERVER_BATCH || size + item.bytes + 1 > BEACON_LIMIT);
      if (chunk.length && (!item || full)) {
        if (!beacon(bodyOf(chunk))) {
          // Over the browser's quota: keep the rest for when the page is visible again.
          state.queue = chunk.concat(items.slice(i), state.queue);
          return;
        }
        state.sent += chunk.length;
        chunk = [];
        size = 2;
      }
      if (item) {
        chunk.push(item);
        size += item.bytes + 1;
      }
    }
  }

  function beacon(body) {
    state.requests++;
    try {
      if (typeof navigator.sendBeacon === 'function') return navigator.sendBeacon(endpoint(), body);
      window.fetch(endpoint(), { method: 'POST', body: body, keepalive: true, credentials: 'omit',
        headers: { 'Content-Type': 'text/plain;charset=UTF-8' } }).catch(function () {});
      return true;
    } catch (e) {
      return false;
    }
  }

  function watchLifecycle() {
    if (state.lifecycle) return;
    state.lifecycle = true;
    document.addEventListener('visibilitychange', guard('visibilitychange', function () {
      if (hidden()) sendBeacons();
    }));
    window.addEventListener('pagehide', guard('pagehide', sendBeacons));
  }

  function disable(reason) {
    state.enabled = false;
    state.reason = reason;
    state.queue = [];
    state.waiting = null;
    if (state.retryTimer) clearTimeout(state.retryTimer);
    if (state.flushTimer) clearTimeout(state.flushTimer);
    state.retryTimer = state.flushTimer = null;
  }

  // --- privacy and sampling ------------------------------------------------------------------

  function doNotTrack() {
    var flag = navigator.doNotTrack || window.doNotTrack || navigator.msDoNotTrack;
    return flag === '1' || flag === 'yes' || navigator.globalPrivacyControl === true;
  }

  function sessionId() {
    try {
      var stored = window.sessionStorage.getItem('syncmon_session');
      if (stored) return stored;
      var created = uuid();
      window.sessionStorage.setItem('syncmon_session', created);
      return created;
    } catch (e) {
      return uuid(); // storage blocked: one session per page load
    }
  }

  function number(value, fallback, min, max) {
    var n = typeof value === 'number' && isFinite(value) ? value : fallback;
    return Math.min(Math.max(n, min), max);
  }

  // --- the seed's helpers --------------------------------------------------------------------

  function trackSecurityEvent(event, props) {
    if (event === undefined || event === null || event === '') return debug('trackSecurityEvent: no event');
    var item = baseItem('security');
    item.user_agent = text(navigator.userAgent, 512);
    merge(item, properties(props));
    item.event_type = text(event, 200).trim();
    if (!item.event_type) return debug('trackSecurityEvent: no event');
    if (item.severity !== undefined &&
        (typeof item.severity !== 'string' || SEVERITIES.indexOf(item.severity.toLowerCase()) === -1)) {
      item.severity_label = item.severity; // kept for reading; the event is stored as info
      delete item.severity;
    }
    enqueue(item);
  }

  function securityHelper(eventType, field) {
    return function (event, props) {
      var detail = {};
      detail[field] = event === undefined || event === null ? '' : text(event, 2048);
      trackSecurityEvent(eventType, Object.assign(detail, properties(props)));
    };
  }

  function trackPageView(url) {
    var item = baseItem('page_view');
    if (typeof url === 'string' && url) item.url = text(url, 2048);
    if (document.referrer) item.referrer = text(document.referrer, 2048);
    if (document.title) item.title = text(document.title, 512);
    enqueue(item);
  }

  function trackCustomEvent(event, props) {
    if (typeof event !== 'string' && typeof event !== 'number') return debug('trackCustomEvent: the name must be text');
    var name = text(event, 200).trim();
    if (!name) return debug('trackCustomEvent: empty name');
    var item = merge(baseItem('custom'), properties(props));
    item.name = name;
    enqueue(item);
  }

  function trackPerformance(metric, value, props) {
    var amount = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    if (typeof amount !== 'number' || !isFinite(amount) || amount < 0) {
      return debug('trackPerformance: the value must be a number >= 0', value);
    }
    var name = text(metric, 200).trim();
    if (!name) return debug('trackPerformance: no metric name');
    var item = merge(baseItem('performance_metric'), properties(props));
    item.metric = name;
    item.value = amount;
    enqueue(item);
  }

  function errorAllowed(key) {
    if (state.errorCount >= MAX_ERRORS_PER_PAGE) return false;
    state.errorKeys[key] = (state.errorKeys[key] || 0) + 1;
    if (state.errorKeys[key] > MAX_SAME_ERROR) return false;
    state.errorCount++;
    return true;
  }

  /** ErrorMonitoring.trackError: the seed's payload ({type, message, stack, …}) or an Error. */
  function trackErrorPayload(payload) {
    if (payload instanceof Error) return trackError(payload);
    var fields = properties(payload);
    var item = merge(baseItem('error'), fields);
    item.type = text(fields.type || 'javascript_error', 200);
    if (item.message !== undefined) item.message = text(item.message, 8192);
    ['lineno', 'colno'].forEach(function (key) {
      if (typeof item[key] !== 'number' || item[key] < 0) delete item[key];
      else item[key] = Math.floor(item[key]);
    });
    if (item.level !== undefined && (typeof item.level !== 'string' ||
        SEVERITIES.indexOf(item.level.toLowerCase()) === -1)) delete item.level;
    if (!errorAllowed(item.type + '|' + item.message + '|' + item.filename + '|' + item.lineno)) return;
    enqueue(item);
  }

  /** VercelAnalytics.trackError(error, context): an error the app caught itself. */
  function trackError(error, context) {
    var isError = error instanceof Error || (error && typeof error === 'object' && 'message' in error);
    var item = baseItem('error');
    item.type = 'caught_error';
    item.message = text(isError ? error.message : error, 8192) || 'Unknown error';
    if (isError && typeof error.stack === 'string') item.stack = text(error.stack, 65536);
    if (isError && error.name) item.error_name = text(error.name, 200);
    if (context !== undefined) item.context = plain(context, 0, []);
    if (!errorAllowed(item.type + '|' + item.message)) return;
    enqueue(item);
  }

  /** A violation of the page's policy by the SDK's own requests: reporting it would be
   * blocked again, and again. */
  function ownRequest(uri) {
    return typeof uri === 'string' && !!config && uri.indexOf(config.host + '/api/monitoring/') === 0;
  }

  function initErrorMonitoring() {
    if (state.errorsOn || !state.enabled) return;
    state.errorsOn = true;
    window.addEventListener('error', guard('error listener', function (event) {
      if (!event || typeof event.message !== 'string') return; // a resource that failed to load
      var error = event.error;
      trackErrorPayload({
        type: 'javascript_error',
        message: event.message,
        filename: event.filename || undefined,
        lineno: event.lineno,
        colno: event.colno,
        stack: error && typeof error.stack === 'string' ? error.stack : undefined,
        error_name: error && error.name ? String(error.name) : undefined
      });
    }));
    window.addEventListener('unhandledrejection', guard('rejection listener', function (event) {
      var reason = event && event.reason;
      var isError = reason && typeof reason === 'object';
      trackErrorPayload({
        type: 'unhandled_promise_rejection',
        message: (isError && reason.message) || (reason !== undefined && !isError ? text(reason, 8192) : 'Unknown error'),
        stack: isError && typeof reason.stack === 'string' ? reason.stack : undefined,
        error_name: isError && reason.name ? String(reason.name) : undefined
      });
    }));
    document.addEventListener('securitypolicyviolation', guard('CSP listener', function (event) {
      // A policy that blocks the monitor itself must not make every report a new violation.
      if (ownRequest(event.blockedURI)) return;
      trackErrorPayload({
        type: 'csp_violation',
        message: 'Content Security Policy violation',
        violated_directive: event.violatedDirective,
        effective_directive: event.effectiveDirective,
        blocked_uri: event.blockedURI,
        source_file: event.sourceFile || undefined,
        line_number: event.lineNumber,
        column_number: event.columnNumber,
        disposition: event.disposition,
        sample: event.sample || undefined
      });
    }));
  }

  // --- performance ---------------------------------------------------------------------------

  var UNITS = { LCP: 'ms', INP: 'ms', FCP: 'ms', TTFB: 'ms', CLS: 'unitless' };

  function attributionOf(metric) {
    var a = metric.attribution;
    if (!a) return undefined;
    var picked = {
      LCP: { target: a.target, url: a.url, time_to_first_byte: a.timeToFirstByte, render_delay: a.elementRenderDelay },
      INP: { target: a.interactionTarget, type: a.interactionType, load_state: a.loadState },
      CLS: { target: a.largestShiftTarget, load_state: a.loadState },
      FCP: { time_to_first_byte: a.timeToFirstByte, load_state: a.loadState },
      TTFB: { waiting: a.waitingDuration, dns: a.dnsDuration, connection: a.connectionDuration, request: a.requestDuration }
    }[metric.name];
    return picked ? plain(picked, 0, []) : undefined;
  }

  function reportVital(metric) {
    trackPerformance(metric.name, metric.value, {
      unit: UNITS[metric.name],
      rating: metric.rating,
      metric_id: metric.id,
      navigation_type: metric.navigationType,
      attribution: attributionOf(metric),
      source: 'web-vitals'
    });
  }

  function withWebVitals(callback) {
    var given = config.webVitals || (window.__SYNCMON__ && window.__SYNCMON__.webVitals);
    if (given) return callback(given);
    var tag = document.createElement('script');
    tag.src = config.webVitalsUrl;
    tag.async = true;
    tag.crossOrigin = 'anonymous';
    tag.onload = guard('web-vitals', function () {
      var loaded = window.__SYNCMON__ && window.__SYNCMON__.webVitals;
      if (loaded) callback(loaded);
      else warn('web-vitals did not register itself from ' + config.webVitalsUrl);
    });
    tag.onerror = function () { warn('could not load web-vitals from ' + config.webVitalsUrl); };
    (document.head || document.documentElement).appendChild(tag);
  }

  function trackWebVitals() {
    if (state.vitalsOn || !state.enabled) return;
    state.vitalsOn = true;
    withWebVitals(function (lib) {
      var report = guard('web-vitals report', reportVital);
      ['onLCP', 'onINP', 'onCLS', 'onFCP', 'onTTFB'].forEach(function (name) {
        if (typeof lib[name] === 'function') lib[name](report);
      });
    });
  }

  /** Navigation timing, measured from the start of the navigation, once the load event is
   * over (loadEventEnd is 0 inside load handlers); then the web vitals. */
  function trackPageLoad() {
    if (state.pageLoadOn || !state.enabled) return;
    state.pageLoadOn = true;
    var measure = guard('page load', function () {
      var nav = window.performance && performance.getEntriesByType && performance.getEntriesByType('navigation')[0];
      if (!nav) return;
      var extra = { unit: 'ms', navigation_type: nav.type, source: 'navigation-timing' };
      if (nav.loadEventEnd > 0) trackPerformance('page_load_time', nav.loadEventEnd - nav.startTime, extra);
      if (nav.domContentLoadedEventEnd > 0) {
        trackPerformance('dom_content_loaded', nav.domContentLoadedEventEnd - nav.startTime, extra);
      }
    });
    if (document.readyState === 'complete') setTimeout(measure, 0);
    else window.addEventListener('load', function () { setTimeout(measure, 0); });
    trackWebVitals();
  }

  // --- init ----------------------------------------------------------------------------------

  function init(options) {
    if (config) return warn('init: already initialised; the first configuration stays');
    var opts = options && typeof options === 'object' ? options : {};
    if (typeof opts.key !== 'string' || !opts.key.trim()) {
      warn('init: the project\'s public key is required: Syncmon.init({ key: "…" })');
      state.reason = 'no key';
      return;
    }
    var host = typeof opts.host === 'string' && opts.host ? originOf(opts.host) && opts.host.replace(/\/+$/, '') : scriptOrigin;
    if (!host) {
      warn('init: host must be the monitor\'s http(s) URL, e.g. https://monitor.example.com');
      state.reason = 'no host';
      return;
    }
    config = {
      key: opts.key.trim(),
      host: host,
      release: opts.release ? text(opts.release, 200) : '',
      environment: opts.environment ? text(opts.environment, 64) : '',
      userId: opts.userId ? text(opts.userId, 200) : '',
      sessionId: '',
      batchSize: Math.floor(number(opts.batchSize, 20, 1, MAX_SERVER_BATCH)),
      flushInterval: number(opts.flushInterval, 5000, 0, 3600000),
      maxQueueSize: Math.floor(number(opts.maxQueueSize, 1000, 1, 100000)),
      maxRetries: Math.floor(number(opts.maxRetries, 6, 0, 100)),
      retryBaseDelay: number(opts.retryBaseDelay, 1000, 0, 3600000),
      retryMaxDelay: number(opts.retryMaxDelay, 60000, 0, 3600000),
      sampleRate: number(opts.sampleRate, 1, 0, 1),
      respectDoNotTrack: opts.respectDoNotTrack !== false,
      webVitals: opts.webVitals && typeof opts.webVitals === 'object' ? opts.webVitals : null,
      webVitalsUrl: typeof opts.webVitalsUrl === 'string' && opts.webVitalsUrl ? opts.webVitalsUrl : host + '/sdk/web-vitals.js',
      beforeSend: typeof opts.beforeSend === 'function' ? opts.beforeSend : null,
      debug: opts.debug === true
    };
    var early = state.preInit.splice(0);
    if (config.respectDoNotTrack && doNotTrack()) {
      state.reason = 'do not track';
      return debug('Do Not Track is on: nothing will be sent');
    }
    if (!(Math.random() < config.sampleRate)) {
      state.reason = 'sampled out';
      return debug('this page is not in the sample (sampleRate ' + config.sampleRate + ')');
    }
    config.sessionId = sessionId();
    state.enabled = true;
    state.reason = 'sending';
    watchLifecycle();
    if (opts.captureErrors !== false) initErrorMonitoring();
    if (opts.pageViews !== false) trackPageView();
    early.forEach(function (call) { call(); });
    if (opts.capturePerformance !== false) trackPageLoad();
  }

  function status() {
    return {
      version: VERSION,
      enabled: state.enabled,
      reason: state.reason,
      queued: state.queue.length + (state.waiting ? state.waiting.items.length : 0),
      inFlight: state.inFlight ? state.inFlight.items.length : 0,
      sent: state.sent,
      dropped: state.dropped,
      requests: state.requests
    };
  }

  var api = {
    __syncmon: true,
    version: VERSION,
    init: guard('init', init),
    status: guard('status', status),
    flush: guard('flush', function () { if (config) flush(); }),
    setUser: guard('setUser', whenReady(function (userId) {
      if (userId === undefined || userId === null || userId === '') config.userId = '';
      else if (typeof userId === 'string' || typeof userId === 'number') config.userId = text(userId, 200);
      else debug('setUser: the id must be text or a number', userId);
    })),
    trackPageView: guard('trackPageView', whenReady(trackPageView)),
    trackCustomEvent: guard('trackCustomEvent', whenReady(trackCustomEvent)),
    trackPerformance: guard('trackPerformance', whenReady(trackPerformance)),
    trackError: guard('trackError', whenReady(trackError)),
    SecurityAnalytics: {
      trackSecurityEvent: guard('trackSecurityEvent', whenReady(trackSecurityEvent)),
      trackAuthenticationEvent: guard('trackAuthenticationEvent', whenReady(securityHelper('authentication', 'auth_event'))),
      trackAuthorizationEvent: guard('trackAuthorizationEvent', whenReady(securityHelper('authorization', 'authz_event'))),
      trackDataAccessEvent: guard('trackDataAccessEvent', whenReady(securityHelper('data_access', 'data_event'))),
      trackAPIEvent: guard('trackAPIEvent', whenReady(securityHelper('api_access', 'api_event')))
    },
    PerformanceMonitoring: {
      trackPageLoad: guard('trackPageLoad', whenReady(trackPageLoad)),
      trackWebVitals: guard('trackWebVitals', whenReady(trackWebVitals))
    },
    ErrorMonitoring: {
      init: guard('ErrorMonitoring.init', whenReady(initErrorMonitoring)),
      trackError: guard('ErrorMonitoring.trackError', whenReady(trackErrorPayload))
    }
  };
  // The seed's VercelAnalytics helpers under their own name too.
  api.VercelAnalytics = {
    trackPageView: api.trackPageView,
    trackCustomEvent: api.trackCustomEvent,
    trackPerformance: api.trackPerformance,
    trackError: api.trackError
  };
  window.Syncmon = api;
})(typeof window !== 'undefined' ? window : undefined);
