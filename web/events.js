// The events panel: polls GET events?after=<last id> every few seconds, keeps what it has seen,
// shows a count per operation and the most recent rows, newest first.

import { events as fetchEvents } from "./api.js";
import { formatBytes, h, say } from "./dom.js";

const PAGE = 1000;           // the events function's largest limit
const MAX_PAGES_PER_TICK = 20;
const SHOWN_ROWS = 25;

export class EventsPanel {
  constructor({ body, counts, status }, getBase, intervalMs = 3000) {
    this.body = body;
    this.counts = counts;
    this.status = status;
    this.getBase = getBase;
    this.intervalMs = intervalMs;
    this.timer = null;
    this.busy = false;
    this.reset();
  }

  reset() {
    this.rows = [];
    this.lastId = 0;
    this.render();
  }

  start() {
    this.stop();
    this.refresh();
    this.timer = setInterval(() => this.refresh(), this.intervalMs);
  }

  stop() {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  async refresh() {
    if (this.busy) return;  // a slow answer must not stack up requests
    this.busy = true;
    const base = this.getBase();
    try {
      for (let page = 0; page < MAX_PAGES_PER_TICK; page += 1) {
        const rows = await fetchEvents(base, this.lastId, PAGE);
        if (base !== this.getBase()) return;  // the base changed meanwhile; drop the answer
        this.add(rows);
        if (rows.length < PAGE) break;
      }
      say(this.status, `Updated ${new Date().toLocaleTimeString()}`, "");
      this.render();
    } catch (err) {
      say(this.status, err.message, "error");
    } finally {
      this.busy = false;
    }
  }

  add(rows) {
    for (const row of rows) {
      const id = Number(row && row.id);
      if (!Number.isInteger(id) || id <= this.lastId) continue;
      this.rows.push(row);
      this.lastId = id;
    }
  }

  render() {
    const perOp = new Map();
    for (const row of this.rows) perOp.set(String(row.op_type), (perOp.get(String(row.op_type)) || 0) + 1);
    const chips = [h("li", { className: "chip total" }, h("span", { text: "total" }),
      h("strong", { text: this.rows.length }))];
    for (const [op, n] of [...perOp.entries()].sort()) {
      chips.push(h("li", { className: "chip", "data-op": op }, h("span", { text: op }),
        h("strong", { text: n })));
    }
    this.counts.replaceChildren(...chips);
    const recent = this.rows.slice(-SHOWN_ROWS).reverse();
    if (recent.length === 0) {
      this.body.replaceChildren(h("tr", {}, h("td", { colspan: 4, className: "empty",
        text: "No events yet. Run grayscale or classify." })));
      return;
    }
    this.body.replaceChildren(...recent.map((row) => h("tr", { "data-op": String(row.op_type) },
      h("td", { text: row.id }),
      h("td", { text: formatTime(row.event_ts) }),
      h("td", {}, h("span", { className: "op", text: row.op_type })),
      h("td", { className: "num", text: formatBytes(Number(row.input_size)) }))));
  }
}

function formatTime(ms) {
  const date = new Date(Number(ms));
  return Number.isNaN(date.getTime()) ? String(ms) : date.toLocaleString();
}
