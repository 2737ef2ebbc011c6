// The page: pick or drop an image, run grayscale or classify, watch the events arrive.

import * as api from "./api.js";
import { formatBytes, h, say } from "./dom.js";
import { EventsPanel } from "./events.js";

const $ = (id) => document.getElementById(id);

const ui = {
  base: $("api-base"), settings: $("settings"), reset: $("api-reset"),
  file: $("file"), drop: $("drop-zone"), info: $("file-info"), status: $("status"),
  runGray: $("run-grayscale"), runClassify: $("run-classify"),
  original: $("original"), gray: $("gray"), grayCaption: $("gray-caption"),
  label: $("label"), scores: $("scores"),
};

const state = { base: api.loadBase(), file: null, originalUrl: null, grayUrl: null, busy: false };

const panel = new EventsPanel(
  { body: $("events-body"), counts: $("counts"), status: $("events-status") }, () => state.base);

function setBusy(busy) {
  state.busy = busy;
  ui.runGray.disabled = busy || !state.file;
  ui.runClassify.disabled = busy || !state.file;
  document.body.toggleAttribute("aria-busy", busy);
}

function swapUrl(key, img, blob) {
  if (state[key]) URL.revokeObjectURL(state[key]);
  state[key] = blob ? URL.createObjectURL(blob) : null;
  img.hidden = !blob;
  if (blob) img.src = state[key];
  else img.removeAttribute("src");
}

function clearResults() {
  swapUrl("grayUrl", ui.gray, null);
  ui.gray.alt = "No grayscale result yet";
  ui.grayCaption.textContent = "Grayscale";
  ui.label.textContent = "Run Classify to see what is in the picture.";
  ui.scores.replaceChildren();
}

function chooseFile(file) {
  if (!file) return;
  state.file = file;
  swapUrl("originalUrl", ui.original, file);
  ui.original.alt = `Original image: ${file.name}`;
  ui.info.textContent = `${file.name} · ${formatBytes(file.size)} · ${file.type || "unknown type"}`;
  clearResults();
  say(ui.status, "Ready: run Grayscale or Classify.", "info");
  setBusy(false);
}

async function run(label, work) {
  if (!state.file || state.busy) return;
  setBusy(true);
  say(ui.status, `${label}…`, "info");
  try {
    await work(state.file);
    panel.refresh();
  } catch (err) {
    say(ui.status, err instanceof api.ApiError ? err.message : `Unexpected error: ${err}`, "error");
  } finally {
    setBusy(false);
  }
}

async function runGrayscale(file) {
  const started = performance.now();
  const response = await api.grayscale(state.base, file);
  const blob = await response.blob();
  swapUrl("grayUrl", ui.gray, blob);
  ui.gray.alt = `Grayscale version of ${file.name}`;
  const key = response.headers.get("X-Result-Key");
  ui.grayCaption.textContent = `Grayscale · ${formatBytes(blob.size)}` + (key ? ` · stored as ${key}` : "");
  say(ui.status, `Grayscale done in ${Math.round(performance.now() - started)} ms.`, "ok");
}

function scoreRow(item, index) {
  const score = Math.min(1, Math.max(0, Number(item && item.score) || 0));
  const percent = `${(score * 100).toFixed(1)}%`;
  return h("li", { className: index === 0 ? "score first" : "score" },
    h("span", { className: "score-label", text: String(item && item.label) }),
    h("span", { className: "bar", "aria-hidden": "true" },
      h("span", { className: "fill", style: { width: `${score * 100}%` } })),
    h("span", { className: "score-value", text: percent }));
}

async function runClassify(file) {
  const started = performance.now();
  const top = await api.classify(state.base, file);
  if (top.length === 0) throw new api.ApiError("classify found no label");
  const best = top[0];
  ui.label.replaceChildren("It is very likely a ",
    h("strong", { className: "best", text: String(best.label) }), " in the picture.");
  // A quantized model gives most classes exactly 0: bars for those would only list index order.
  const shown = top.slice(0, 5).filter((item, index) => index === 0 || Number(item.score) > 0);
  ui.scores.replaceChildren(...shown.map(scoreRow));
  say(ui.status, `Classified in ${Math.round(performance.now() - started)} ms.`, "ok");
}

function applyBase(value) {
  try {
    state.base = api.saveBase(value);
  } catch (err) {
    say(ui.status, err.message, "error");
    ui.base.focus();
    return;
  }
  ui.base.value = state.base;
  say(ui.status, `API base set to ${state.base}.`, "info");
  panel.reset();
  panel.refresh();
}

function wire() {
  ui.base.value = state.base;
  ui.settings.addEventListener("submit", (event) => {
    event.preventDefault();
    applyBase(ui.base.value);
  });
  ui.reset.addEventListener("click", () => applyBase(api.defaultBase()));
  ui.file.addEventListener("change", () => chooseFile(ui.file.files[0]));
  for (const name of ["dragenter", "dragover"]) {
    ui.drop.addEventListener(name, (event) => {
      event.preventDefault();
      ui.drop.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "drop"]) {
    ui.drop.addEventListener(name, () => ui.drop.classList.remove("dragging"));
  }
  ui.drop.addEventListener("drop", (event) => {
    event.preventDefault();
    chooseFile(event.dataTransfer && event.dataTransfer.files[0]);
  });
  document.addEventListener("paste", (event) => {
    const item = [...(event.clipboardData?.files || [])].find((f) => f.type.startsWith("image/"));
    if (item) chooseFile(item);
  });
  ui.runGray.addEventListener("click", () => run("Converting to grayscale", runGrayscale));
  ui.runClassify.addEventListener("click", () => run("Classifying", runClassify));
  panel.start();
}

wire();
