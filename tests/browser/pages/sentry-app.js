// The "application" of sentry.html. Not minified, so the stack frames that the SDK sends
// carry these function names and this file's URL, line and column.
'use strict';

const params = new URLSearchParams(window.location.search);
const dsn = params.get('dsn');

function log(line) {
  const item = document.createElement('div');
  item.textContent = line;
  document.getElementById('log').appendChild(item);
}

Sentry.init({
  dsn: dsn,
  release: params.get('release') || 'web@1.0.0',
  environment: params.get('environment') || 'test',
});
log('Sentry ' + Sentry.SDK_VERSION + ' → ' + dsn);

function submitOrder(order) {
  throw new Error('payment service unreachable for order ' + order.id);
}

function checkoutButtonClicked() {
  log('checkout clicked');
  // Failing later, outside the click handler: only the global error handler sees it.
  setTimeout(function processCheckout() {
    submitOrder({ id: 42 });
  }, 0);
}

function parseCart(raw) {
  return raw.items.length;
}

window.addEventListener('DOMContentLoaded', function () {
  document.getElementById('checkout').addEventListener('click', checkoutButtonClicked);
});

// What the test drives through page.evaluate.
window.shop = {
  reportCaughtError() {
    try {
      parseCart(null);
    } catch (err) {
      const id = Sentry.captureException(err);
      log('captured ' + err + ' as ' + id);
      return id;
    }
  },
  reportMessage() {
    const id = Sentry.captureMessage('cart abandoned at payment step', 'warning');
    log('message sent as ' + id);
    return id;
  },
  async flush() {
    const done = await Sentry.flush(10000);
    log('flushed: ' + done);
    return done;
  },
  // POSTs an envelope to the DSN's ingest endpoint with this page's own fetch and reads
  // the reply as the SDK would: a CORS failure makes fetch reject here.
  async postEnvelope(body, contentType) {
    const url = new URL(dsn);
    const projectId = url.pathname.replace(/^\//, '');
    const endpoint = url.protocol + '//' + url.host + '/api/' + projectId +
      '/envelope/?sentry_version=7&sentry_key=' + encodeURIComponent(url.username);
    const headers = contentType ? { 'Content-Type': contentType } : {};
    try {
      const response = await fetch(endpoint, { method: 'POST', body: body, headers: headers });
      return {
        status: response.status,
        contentType: response.headers.get('content-type'),
        body: await response.text(),
      };
    } catch (err) {
      return { error: String(err) };
    }
  },
};
