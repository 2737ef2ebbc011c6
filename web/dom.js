// DOM helpers. Text from a response only ever reaches the page through textContent, so
// nothing a service answers is ever parsed as HTML.

/** createElement(tag) with `props` (className, text, attributes) and children. */
export function h(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (key === "className") node.className = value;
    else if (key === "text") node.textContent = String(value);
    else if (key === "style") Object.assign(node.style, value);
    else node.setAttribute(key, String(value));
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Show `message` in `node` as plain text; kind is "", "info", "ok" or "error". */
export function say(node, message, kind = "info") {
  node.textContent = message;
  node.dataset.kind = kind;
  // Errors interrupt a screen reader; progress notes wait their turn.
  node.setAttribute("role", kind === "error" ? "alert" : "status");
}

export function formatBytes(bytes) {
  if (!Number.isFinite(bytes)) return "?";
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
