// Training job charts: reads the JSON the server renders into #chart-data, draws one Chart.js
// line chart per entry, and redraws after each htmx poll swaps the live region.
(function () {
  "use strict";
  const charts = {};

  function cssVar(name, fallback) {
    const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    return value || fallback;
  }

  function logScale() {
    const box = document.getElementById("log-scale");
    return box ? box.checked : false;
  }

  function options(spec) {
    const text = cssVar("--text-muted", "#545a66");
    const grid = cssVar("--border", "#d9dbe0");
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
        x: { type: "linear", title: { display: true, text: "step", color: text }, ticks: { color: text }, grid: { color: grid } },
        y: {
          type: spec.log && logScale() ? "logarithmic" : "linear",
          title: { display: true, text: spec.y, color: text },
          ticks: { color: text },
          grid: { color: grid },
        },
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
      if (charts[spec.id]) {
        charts[spec.id].data.datasets = spec.datasets;
        charts[spec.id].options = options(spec);
        charts[spec.id].update();
      } else {
        charts[spec.id] = new window.Chart(canvas, { type: "line", data: { datasets: spec.datasets }, options: options(spec) });
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
})();
