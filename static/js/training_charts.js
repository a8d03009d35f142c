// Training job charts: reads the JSON the server renders into #chart-data, draws one Chart.js
// chart per entry (lines over steps, or bars over task types and reward bins), and redraws
// after each htmx poll swaps the live region.
(function () {
  "use strict";
  const charts = {};

  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  // The server names colours as CSS variables ("var(--chart-blue)"); Chart.js draws on a
  // canvas, which cannot resolve them, so they are read from the page's current theme.
  function resolve(color) {
    const match = typeof color === "string" && color.match(/^var\((--[\w-]+)\)$/);
    return match ? cssVar(match[1], "#545a66") : color;
  }

  function themed(datasets) {
    return datasets.map((d) => Object.assign({}, d, {
      borderColor: resolve(d.borderColor),
      backgroundColor: resolve(d.backgroundColor),
    }));
  }

  function logScale() {
    const box = document.getElementById("log-scale");
    return box ? box.checked : false;
  }

  function yScale(spec, text, grid) {
    const y = {
      type: spec.log && logScale() ? "logarithmic" : "linear",
      title: { display: true, text: spec.y, color: text },
      ticks: { color: text },
      grid: { color: grid },
    };
    // Bounded values (accuracies, fractions) keep their whole range in view.
    if (spec.range && y.type === "linear") {
      y.min = spec.range[0];
      y.max = spec.range[1];
    }
    return y;
  }

  function options(spec) {
    const text = cssVar("--text-muted", "#545a66");
    const grid = cssVar("--chart-grid", "#e3e5e9");
    const bar = spec.type === "bar";
    return {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "nearest", axis: "x", intersect: false },
      plugins: {
        legend: { position: "bottom", labels: { color: text, boxWidth: 18 } },
        tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${Number(c.parsed.y).toPrecision(4)}` } },
      },
      scales: {
        x: {
          type: bar ? "category" : "linear",
          title: { display: true, text: spec.x || "step", color: text },
          // Steps are whole numbers: no 1.5 ticks on short runs.
          ticks: bar ? { color: text } : { color: text, precision: 0 },
          grid: { color: grid, display: !bar },
        },
        y: yScale(spec, text, grid),
      },
    };
  }

  function draw() {
    const node = document.getElementById("chart-data");
    if (!node || !window.Chart) return;
    const specs = JSON.parse(node.textContent);
    for (const spec of specs) {
      const canvas = document.getElementById(spec.id);
      if (!canvas) continue;
      if (charts[spec.id] && charts[spec.id].canvas !== canvas) {
        charts[spec.id].destroy();
        delete charts[spec.id];
      }
      const datasets = themed(spec.datasets);
      const data = spec.type === "bar" ? { labels: spec.labels, datasets: datasets } : { datasets: datasets };
      if (charts[spec.id]) {
        charts[spec.id].data = data;
        charts[spec.id].options = options(spec);
        charts[spec.id].update();
      } else {
        charts[spec.id] = new window.Chart(canvas, { type: spec.type || "line", data: data, options: options(spec) });
      }
    }
  }

  let logChecked = false;
  document.addEventListener("change", (event) => {
    if (event.target && event.target.id === "log-scale") {
      logChecked = event.target.checked;
      draw();
    }
  });
  // After settle, not after swap: the new canvases are laid out by then.
  document.addEventListener("htmx:afterSettle", () => {
    const box = document.getElementById("log-scale");
    if (box) box.checked = logChecked;
    draw();
  });
  document.addEventListener("DOMContentLoaded", draw);
  // A theme switch while the page is open redraws in the new colours.
  if (window.matchMedia) {
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", draw);
  }
})();
