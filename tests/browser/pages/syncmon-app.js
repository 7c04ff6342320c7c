// The "application" of syncmon.html. It loads the SDK from the monitor (?monitor=), calls
// Syncmon.init with ?key= and the JSON options in ?options=, and gives the test the
// actions a real page would do (window.shop). Not minified: the stack frames the SDK
// sends carry these function names and this file's URL.
'use strict';

const params = new URLSearchParams(window.location.search);
const monitor = params.get('monitor');

function log(line) {
  const item = document.createElement('div');
  item.textContent = line;
  document.getElementById('log').appendChild(item);
}

function submitOrder(order) {
  throw new Error('payment service unreachable for order ' + order.id);
}

function checkoutButtonClicked() {
  // Long enough to be an interaction web-vitals measures for INP (over 40 ms).
  const until = performance.now() + 80;
  while (performance.now() < until) { /* busy */ }
  log('checkout clicked');
}

window.shop = {
  loaded: false,
  throwLater() {
    // Uncaught, outside any handler of ours: only the window `error` listener sees it.
    setTimeout(function processCheckout() {
      submitOrder({ id: 42 });
    }, 0);
  },
  rejectLater() {
    Promise.reject(new TypeError('inventory lookup failed for sku 7'));
  },
  violateCsp() {
    // The page's policy has img-src 'self' data:, so an image from the monitor is blocked:
    // the browser fires `securitypolicyviolation` and posts its own report.
    const img = document.createElement('img');
    img.alt = 'blocked tracking pixel';
    img.src = monitor + '/healthz?pixel=1';
    document.body.appendChild(img);
  },
  logIn() {
    Syncmon.SecurityAnalytics.trackAuthenticationEvent('login_failed', { username: 'ada', severity: 'warning' });
  },
};

window.addEventListener('DOMContentLoaded', function () {
  document.getElementById('checkout').addEventListener('click', checkoutButtonClicked);
  const tag = document.createElement('script');
  tag.src = monitor + '/sdk/syncmon.js';
  tag.onload = function () {
    const options = JSON.parse(params.get('options') || '{}');
    if (params.get('key')) options.key = params.get('key');
    Syncmon.init(options);
    window.shop.loaded = true;
    log('syncmon.js ' + Syncmon.version + ': ' + JSON.stringify(Syncmon.status()));
  };
  document.head.appendChild(tag);
});
