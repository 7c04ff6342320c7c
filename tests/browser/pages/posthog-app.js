// The "application" of posthog.html: the seed's client code for posthog-js, as JavaScript.
// posthog-js itself comes from the monitor, <monitor>/static/array.js, where PostHog's
// snippet loads it from api_host; the token is ?key=.
'use strict';

const params = new URLSearchParams(window.location.search);
const monitor = params.get('monitor');

// What Next.js inlines at build time for the seed's process.env references.
const process = {
  env: {
    NEXT_PUBLIC_POSTHOG_KEY: params.get('key'),
    NEXT_PUBLIC_APP_VERSION: '1.4.0',
    NODE_ENV: 'production',
  },
};

function log(line) {
  const item = document.createElement('div');
  item.textContent = line;
  document.getElementById('log').appendChild(item);
}

// src/utils/securityAnalytics.ts from the seed, its types removed.
class SecurityAnalytics {
  static trackSecurityEvent(event, properties = {}) {
    if (typeof window !== 'undefined' && window.posthog) {
      window.posthog.capture('security_event', {
        event_type: event,
        timestamp: new Date().toISOString(),
        user_agent: navigator.userAgent,
        url: window.location.href,
        ...properties
      })
    }
  }

  static trackAuthenticationEvent(event, properties = {}) {
    this.trackSecurityEvent('authentication', {
      auth_event: event,
      ...properties
    })
  }
}

function initPostHog(posthog) {
  // pages/_app.tsx from the seed: only api_host differs (and the TypeScript `!` is gone).
  if (typeof window !== 'undefined') {
    posthog.init(process.env.NEXT_PUBLIC_POSTHOG_KEY, {
      api_host: monitor,
      person_profiles: 'identified_only',
      capture_pageview: false, // We'll capture manually
      capture_pageleave: true,
      disable_session_recording: false,
      session_recording: {
        recordCrossOriginIframes: false,
        maskAllInputs: true,
        maskInputOptions: {
          password: true,
          email: true,
          phone: true,
        },
      },
      // Security monitoring
      capture_performance: true,
      capture_network_requests: true,
      capture_console_logs: true,
      // Privacy compliance
      respect_dnt: true,
      opt_out_capturing_by_default: false,
      // Custom properties
      loaded: (posthog) => {
        posthog.register({
          'app_version': process.env.NEXT_PUBLIC_APP_VERSION,
          'environment': process.env.NODE_ENV,
          'security_level': 'enterprise',
        })
        window.shop.loaded = true
        log('posthog-js ' + posthog.version + ' → ' + monitor)
      }
    })
  }
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
  capturePageView() {
    // "We'll capture manually": what the app's router does on every page.
    window.posthog.capture('$pageview');
  },
  startCheckout() {
    window.posthog.capture('checkout_started', { cart_value: 129.5, items: 3 });
  },
  failLogin() {
    SecurityAnalytics.trackAuthenticationEvent('login_failed', { username: 'ada', severity: 'warning' });
  },
  throwLater() {
    setTimeout(function processCheckout() {
      submitOrder({ id: 42 });
    }, 0);
  },
  rejectLater() {
    Promise.reject(new TypeError('inventory lookup failed for sku 7'));
  },
  violateCsp() {
    const img = document.createElement('img');
    img.alt = 'blocked tracking pixel';
    img.src = monitor + '/healthz?pixel=1';
    document.body.appendChild(img);
  },
};

window.addEventListener('DOMContentLoaded', function () {
  document.getElementById('checkout').addEventListener('click', checkoutButtonClicked);
  const tag = document.createElement('script');
  tag.src = monitor + '/static/array.js';
  tag.crossOrigin = 'anonymous';
  tag.onload = function () { initPostHog(window.posthog); };
  document.head.appendChild(tag);
});
