// The /dashboard page: builds each dashboard from /dashboard/api/dashboards (the same definitions as the
// Grafana JSON), asks /dashboard/api/panels/<id> for every panel's data and draws it with Chart.js.
// State for tests and debugging: window.carpipeDashboard.{charts, loaded, errors, refreshes}.
"use strict";

const BASE = document.getElementById("dashboards").dataset.base;
// As in Grafana's URLs: ?refresh=10s overrides every dashboard's refresh period, ?from=&to= (epoch ms or
// now-6h) fixes the time range.
const URL_PARAMS = new URLSearchParams(location.search);
const REFRESH_OVERRIDE = parseDuration(URL_PARAMS.get("refresh"));
const FIXED_RANGE = URL_PARAMS.get("from") ? { from: URL_PARAMS.get("from"), to: URL_PARAMS.get("to") || "now" } : null;
const RANGES = ["now-15m", "now-1h", "now-3h", "now-6h", "now-12h", "now-24h", "now-7d"];
const state = (window.carpipeDashboard = { charts: {}, loaded: {}, errors: {}, refreshes: {} });

// Grafana's classic palette; set explicitly because Chart.js's automatic colours stay off once its
// defaults are themed (as below).
const PALETTE = ["#73bf69", "#f2cc0c", "#5794f2", "#ff780a", "#f2495c", "#b877d9", "#8ab8ff", "#fade2a",
                 "#37872d", "#1f60c4"];
const TIME_STEPS = [60e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 3 * 3600e3, 6 * 3600e3, 12 * 3600e3, 86400e3];
Chart.defaults.color = "#8e9297";
Chart.defaults.borderColor = "#2c3235";
Chart.defaults.animation = false;
Chart.defaults.maintainAspectRatio = false;

function parseDuration(text) {
  const m = /^(\d+)(s|m|h)$/.exec(text || "");
  return m ? Number(m[1]) * { s: 1, m: 60, h: 3600 }[m[2]] : null;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function formatValue(v, unit) {
  if (v === null || v === undefined) return "–";
  if (unit === "currencyEUR") return "€" + Number(v).toLocaleString(undefined, { maximumFractionDigits: 0 });
  if (unit === "s") return Number(v).toLocaleString(undefined, { maximumFractionDigits: 1 }) + " s";
  return Number(v).toLocaleString(undefined, { maximumFractionDigits: 2 });
}

function formatTime(ms, spanMs) {
  const d = new Date(ms);
  const hm = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  return spanMs > 86400000 ? d.toLocaleDateString([], { month: "short", day: "numeric" }) + " " + hm : hm;
}

function rangeLabel({ from, to }) {
  const text = (t) => (/^\d+$/.test(t) ? new Date(Number(t)).toLocaleString() : t);
  return `${text(from)} to ${text(to)}`;
}

async function getJSON(url) {
  const r = await fetch(url);
  const body = await r.json();
  if (!r.ok) throw new Error(body.message || r.statusText);
  return body;
}

// -- rendering per panel kind ---------------------------------------------------------------------------
function colour(datasets, fill) {
  return datasets.map((d, i) => ({ ...d, borderColor: PALETTE[i % PALETTE.length],
                                   backgroundColor: PALETTE[i % PALETTE.length] + (fill ? "cc" : "33") }));
}

function drawChart(panel, config) {
  const body = panel.body;
  const old = state.charts[panel.def.id];
  if (old) old.destroy();
  body.replaceChildren(el("canvas"));
  state.charts[panel.def.id] = new Chart(body.firstChild, config);
}

function timeScale(data) {
  const span = data.to_ms - data.from_ms;
  const stepSize = TIME_STEPS.find((step) => span / step <= 8) || TIME_STEPS[TIME_STEPS.length - 1];
  return { type: "linear", min: data.from_ms, max: data.to_ms,
           ticks: { stepSize, includeBounds: false, callback: (v) => formatTime(v, span) } };
}

function valueScale(unit, position = "left") {
  return { position, beginAtZero: true, ticks: { callback: (v) => formatValue(v, unit) } };
}

const render = {
  timeseries(panel, data) {
    drawChart(panel, { type: "line", data: { datasets: colour(data.series.map((s) => ({
        label: s.name, data: s.points.map(([x, y]) => ({ x, y })), borderWidth: 1.5, fill: data.series.length === 1,
        pointRadius: s.points.length > 60 ? 0 : 2 })), false) },
      options: { scales: { x: timeScale(data), y: valueScale(panel.def.unit) }, parsing: false } });
  },
  windows(panel, data) {   // one bar group per window start
    const times = [...new Set(data.series.flatMap((s) => s.points.map((p) => p[0])))].sort((a, b) => a - b);
    const span = data.to_ms - data.from_ms;
    drawChart(panel, { type: "bar", data: { labels: times.map((t) => formatTime(t, span)),
        datasets: colour(data.series.map((s) => {
          const byTime = new Map(s.points);
          return { label: s.name, data: times.map((t) => byTime.get(t) ?? null) };
        }), true) },
      options: { scales: { y: valueScale(panel.def.unit) } } });
  },
  bars(panel, data) {   // table result: the tag column names the bars, each value column is a dataset
    const valueCols = data.columns.slice(2);
    const sorted = [...data.rows].sort((a, b) => (b[2] ?? 0) - (a[2] ?? 0));
    drawChart(panel, { type: "bar", data: { labels: sorted.map((r) => r[1]),
        datasets: colour(valueCols.map((c, i) => ({ label: c, data: sorted.map((r) => r[2 + i]),
                                                    yAxisID: i === 0 ? "y" : "y1" })), true) },
      options: { scales: { y: valueScale(panel.def.unit),
                           y1: { ...valueScale(panel.def.unit, "right"), grid: { drawOnChartArea: false } } } } });
  },
  histogram(panel, data) {
    drawChart(panel, { type: "bar", data: {
        labels: data.bins.map(([lo]) => formatValue(lo, panel.def.unit)),
        datasets: colour([{ label: "transactions", data: data.bins.map(([, n]) => n),
                            categoryPercentage: 1.0, barPercentage: 0.95 }], true) },
      options: { scales: { y: { beginAtZero: true } } } });
  },
  stat(panel, data) {
    const values = data.series.map((s) => {
      const last = [...s.points].reverse().find((p) => p[1] !== null);
      return [s.name, last ? last[1] : null];
    });
    if (!values.length && data.no_value !== null) values.push([panel.def.title, data.no_value]);
    panel.body.replaceChildren(...(values.length ? values.map(([name, v]) => el("div", { class: "stat-value" },
      el("div", { class: "v" }, typeof v === "string" ? v : formatValue(v, panel.def.unit)),
      el("div", { class: "n" }, name))) : [el("div", { class: "empty" }, "No data")]));
  },
  table(panel, data) {   // the panel's columns in its order, else every column but time
    const wanted = panel.def.columns.length ? panel.def.columns : data.columns.filter((c) => c !== "time");
    const cols = wanted.map((c) => [c, data.columns.indexOf(c)]).filter(([, i]) => i >= 0);
    if (!data.rows.length) return panel.body.replaceChildren(el("div", { class: "empty" }, "No data"));
    const cell = (c, v) => c === "time" ? el("td", {}, new Date(v).toLocaleString())
      : typeof v === "number" ? el("td", { class: "num" }, formatValue(v, "")) : el("td", {}, v ?? "");
    const head = el("tr", {}, ...cols.map(([c, i]) => el("th", { class: typeof data.rows[0][i] === "number" && c !== "time" ? "num" : "" }, c)));
    const rows = data.rows.map((r) => el("tr", {}, ...cols.map(([c, i]) => cell(c, r[i]))));
    panel.body.replaceChildren(el("table", {}, el("thead", {}, head), el("tbody", {}, ...rows)));
  },
};

// -- dashboards -----------------------------------------------------------------------------------------
function panelUrl(board, panel) {
  const range = board.range.value === "custom" ? FIXED_RANGE : { from: board.range.value, to: "now" };
  const params = new URLSearchParams({ ...range,
                                       maxDataPoints: Math.max(100, Math.round(panel.body.clientWidth || 600)) });
  for (const [name, select] of Object.entries(board.variables)) {
    const chosen = [...select.selectedOptions].map((o) => o.value);
    if (!chosen.includes("$__all")) chosen.forEach((v) => params.append(`var-${name}`, v));
  }
  return `${BASE}/api/panels/${encodeURIComponent(panel.def.id)}?${params}`;
}

async function refreshPanel(board, panel) {
  try {
    const data = await getJSON(panelUrl(board, panel));
    render[panel.def.kind](panel, data);
    state.loaded[panel.def.id] = data;
    delete state.errors[panel.def.id];
  } catch (err) {
    state.errors[panel.def.id] = String(err.message || err);
    panel.body.replaceChildren(el("div", { class: "error" }, state.errors[panel.def.id]));
  }
}

async function refreshBoard(board) {
  await Promise.all(board.panels.map((p) => refreshPanel(board, p)));
  state.refreshes[board.def.uid] = (state.refreshes[board.def.uid] || 0) + 1;
  const failed = Object.keys(state.errors).length;
  const status = document.getElementById("status");
  status.textContent = `updated ${new Date().toLocaleTimeString()}` + (failed ? ` – ${failed} panel(s) failed` : "");
  status.classList.toggle("error", failed > 0);
}

async function variableSelect(board, v) {
  const select = el("select", { multiple: "", "data-variable": v.name });
  select.append(el("option", { value: "$__all", selected: "" }, "All"));
  try {
    const { options } = await getJSON(`${BASE}/api/variables/${encodeURIComponent(v.name)}`);
    options.forEach((o) => select.append(el("option", { value: o }, o)));
  } catch (err) {
    select.title = String(err.message || err);
  }
  select.addEventListener("change", () => refreshBoard(board));
  return el("label", {}, v.label, select);
}

async function buildBoard(def) {
  const board = { def, panels: [], variables: {} };
  const chosen = FIXED_RANGE ? "custom" : def.time_from;
  board.range = el("select", { "data-range": def.uid },
                   ...RANGES.map((r) => el("option", r === chosen ? { value: r, selected: "" } : { value: r },
                                           "last " + r.slice(4))));
  if (FIXED_RANGE) board.range.prepend(el("option", { value: "custom", selected: "" }, rangeLabel(FIXED_RANGE)));
  board.range.addEventListener("change", () => refreshBoard(board));
  const toolbar = el("div", { class: "toolbar" }, el("label", {}, "time range", board.range));
  for (const v of def.variables) {
    const label = await variableSelect(board, v);
    board.variables[v.name] = label.querySelector("select");
    toolbar.append(label);
  }
  board.refreshSeconds = REFRESH_OVERRIDE || def.refresh_seconds;
  toolbar.append(el("span", { class: "note" }, `refreshes every ${board.refreshSeconds}s`));
  const grid = el("div", { class: "grid" });
  for (const p of def.panels) {
    const body = el("div", { class: "body" });
    grid.append(el("div", { class: `panel ${p.kind}`, "data-panel": p.id, title: p.description,
                            style: `grid-column: span ${p.width}` }, el("h3", {}, p.title), body));
    board.panels.push({ def: p, body });
  }
  document.getElementById("dashboards").append(
    el("section", { class: "dashboard", "data-dashboard": def.uid }, el("h2", {}, def.title), toolbar, grid));
  return board;
}

async function main() {
  try {
    const defs = await getJSON(`${BASE}/api/dashboards`);
    for (const def of defs) {
      const board = await buildBoard(def);
      refreshBoard(board);
      setInterval(() => refreshBoard(board), board.refreshSeconds * 1000);
    }
  } catch (err) {
    const status = document.getElementById("status");
    status.textContent = `cannot load the dashboards: ${err.message || err}`;
    status.classList.add("error");
  }
}

main();
