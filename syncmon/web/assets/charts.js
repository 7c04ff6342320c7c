/*
 * Time-series charts for the dashboard, drawn with the vendored uPlot (uplot.iife.min.js).
 *
 * A page author writes, server-side, an element
 *   <div class="chart" data-chart='{{ spec | tojson }}'></div>
 * with spec = {
 *   "x": [epoch seconds, ...],                        // bucket starts
 *   "series": [{"label": "LCP p75", "values": [..], "unit": "ms", "color": "good"}, ...],
 *   "kind": "line" | "bars" | "stacked",              // default line
 *   "height": 180,                                    // px, default 180
 *   "y_min": 0                                        // optional fixed lower bound
 * }
 * Missing values are null (a gap, not a zero). Colours are names from the palette below so
 * the stylesheet, not the data, decides them. Charts are redrawn after a live refresh
 * (the "syncmon:live-refreshed" event of app.js) and when the window is resized.
 * The element's text content (a table or a sentence) stays the accessible fallback.
 */
(function () {
  "use strict";

  var PALETTE = {
    "default": "#3b6fd8", "good": "#1a9c5a", "ni": "#d99a1e", "poor": "#d2453c",
    "muted": "#8a94a6", "accent": "#7b4bd6"
  };
  var ORDER = ["default", "accent", "good", "ni", "poor", "muted"];

  function colour(name, index) {
    return PALETTE[name] || PALETTE[ORDER[index % ORDER.length]];
  }

  function formatValue(unit) {
    return function (self, value) {
      if (value === null || value === undefined) { return "—"; }
      if (unit === "ms" && Math.abs(value) >= 1000) { return (value / 1000).toFixed(2) + " s"; }
      if (unit === "%") { return value.toFixed(1) + " %"; }
      var rounded = Math.abs(value) >= 100 ? Math.round(value) : Math.round(value * 100) / 100;
      return String(rounded) + (unit ? " " + unit : "");
    };
  }

  function stack(seriesValues) {
    var sums = [];
    return seriesValues.map(function (values) {
      return values.map(function (value, i) {
        sums[i] = (sums[i] || 0) + (value || 0);
        return value === null ? null : sums[i];
      });
    });
  }

  function build(element) {
    var spec;
    try {
      spec = JSON.parse(element.getAttribute("data-chart"));
    } catch (error) {
      return;
    }
    if (!spec || !Array.isArray(spec.x) || !Array.isArray(spec.series) || spec.x.length === 0) { return; }
    var kind = spec.kind || "line";
    var values = spec.series.map(function (s) { return s.values; });
    if (kind === "stacked") { values = stack(values); }
    var unit = (spec.series[0] && spec.series[0].unit) || "";
    var series = [{}].concat(spec.series.map(function (s, i) {
      var stroke = colour(s.color, i);
      var entry = { label: s.label, stroke: stroke, width: 2, value: formatValue(s.unit || unit), spanGaps: false };
      if (kind === "bars") {
        entry.paths = window.uPlot.paths.bars({ size: [0.8, 40] });
        entry.fill = stroke;
      } else if (kind === "stacked") {
        entry.fill = stroke + "55";
      }
      return entry;
    }));
    if (kind === "stacked") { series = [series[0]].concat(series.slice(1).reverse()); values = values.reverse(); }
    var yScale = { auto: true };
    if (typeof spec.y_min === "number") {
      yScale = { range: function (self, min, max) { return [spec.y_min, Math.max(max, spec.y_min + 1)]; } };
    }
    var options = {
      width: Math.max(200, element.clientWidth || 600),
      height: spec.height || 180,
      series: series,
      scales: { x: { time: true }, y: yScale },
      axes: [{}, { values: function (self, ticks) { return ticks.map(function (t) { return formatValue(unit)(self, t); }); }, size: 70 }],
      legend: { show: spec.series.length > 1 || Boolean(spec.legend) },
      cursor: { drag: { x: false, y: false } }
    };
    var fallback = element.querySelector("[data-chart-fallback]");
    if (fallback) { fallback.hidden = true; }
    element.querySelectorAll(".uplot").forEach(function (old) { old.remove(); });
    element.uplot = new window.uPlot(options, [spec.x].concat(values), element);
  }

  function drawAll() {
    if (!window.uPlot) { return; }
    document.querySelectorAll("[data-chart]").forEach(function (element) {
      try { build(element); } catch (error) { /* a chart that cannot draw keeps its fallback */ }
    });
  }

  var resizeTimer = null;
  window.addEventListener("resize", function () {
    window.clearTimeout(resizeTimer);
    resizeTimer = window.setTimeout(drawAll, 150);
  });
  document.addEventListener("syncmon:live-refreshed", drawAll);
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", drawAll);
  } else {
    drawAll();
  }
}());
