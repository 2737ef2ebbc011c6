// Calls to the functions and the one place where an HTTP failure becomes a sentence.
// Every call goes to `${base}/${fn}/${path}`: through the launcher's proxy by default.

const STORAGE_KEY = "dapr-functions.api-base";
const FALLBACK_BASE = "http://127.0.0.1:8080/api";

export class ApiError extends Error {
  constructor(message, status = 0) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/** The base the launcher serves when the page comes from it, else the local stack's. */
export function defaultBase(loc = window.location) {
  return loc.protocol === "http:" || loc.protocol === "https:" ? `${loc.origin}/api` : FALLBACK_BASE;
}

export function loadBase() {
  try {
    return localStorage.getItem(STORAGE_KEY) || defaultBase();
  } catch {
    return defaultBase();  // storage can be disabled; the default still works
  }
}

export function saveBase(value) {
  const base = normaliseBase(value);
  try {
    if (base === defaultBase()) localStorage.removeItem(STORAGE_KEY);
    else localStorage.setItem(STORAGE_KEY, base);
  } catch {
    // Not remembered, but still used for this visit.
  }
  return base;
}

/** An absolute http(s) URL without trailing slashes; throws ApiError otherwise. */
export function normaliseBase(value) {
  let url;
  try {
    url = new URL(value.trim(), window.location.href);
  } catch {
    throw new ApiError(`"${value}" is not a URL`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ApiError("the API base must be an http:// or https:// URL");
  }
  return url.href.replace(/\/+$/, "");
}

const SERVICE_NAMES = { grayscale: "grayscale", classify: "classify", events: "events" };

async function errorDetail(response) {
  // Functions answer {"error": "...", "detail": ...}; anything else is shown as plain text.
  const text = await response.text().catch(() => "");
  try {
    const body = JSON.parse(text);
    if (body && typeof body.error === "string") return body.error;
  } catch {
    // not JSON
  }
  return text.trim().slice(0, 200);
}

function retryAfter(response) {
  const raw = response.headers.get("Retry-After");
  if (!raw) return null;
  const seconds = Number(raw);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const when = Date.parse(raw);
  return Number.isNaN(when) ? null : Math.max(0, Math.ceil((when - Date.now()) / 1000));
}

/** A message for a failed response, tailored to the status codes the functions use. */
export async function describeFailure(fn, response) {
  const detail = await errorDetail(response);
  const name = SERVICE_NAMES[fn] || fn;
  switch (response.status) {
    case 413:
      return `The image is too large for ${name}${detail ? `: ${detail}` : ""}. Try a smaller file.`;
    case 415:
      return `That file is not an image format ${name} can read${detail ? ` (${detail})` : ""}.`;
    case 429: {
      const wait = retryAfter(response);
      return `Too many requests: ${name} is rate limited. ` +
        (wait === null ? "Try again shortly." : `Try again in ${wait} s.`);
    }
    case 502:
    case 503:
    case 504:
      return `The ${name} service is down or not answering (HTTP ${response.status})` +
        `${detail ? `: ${detail}` : ""}.`;
    default:
      return `${name} failed with HTTP ${response.status}${detail ? `: ${detail}` : ""}.`;
  }
}

/** fetch() `${base}/${fn}/${path}`; resolves to an ok Response, rejects with ApiError. */
export async function call(base, fn, path, init = {}) {
  const url = `${base}/${fn}/${path}`;
  let response;
  try {
    response = await fetch(url, { cache: "no-store", ...init });
  } catch {
    throw new ApiError(`The ${SERVICE_NAMES[fn] || fn} service is not reachable at ${url}. ` +
      "Is the stack running (make run), and is the API base right?");
  }
  if (!response.ok) throw new ApiError(await describeFailure(fn, response), response.status);
  return response;
}

export function grayscale(base, file) {
  return call(base, "grayscale", "grayscale", {
    method: "POST", body: file, headers: { Accept: "image/png" },
  });
}

export async function classify(base, file) {
  const response = await call(base, "classify", "classify", {
    method: "POST", body: file, headers: { Accept: "application/json" },
  });
  const top = await response.json().catch(() => null);
  if (!Array.isArray(top)) throw new ApiError("classify answered with something other than a list");
  return top;
}

export async function events(base, after, limit) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (after > 0) query.set("after", String(after));
  const response = await call(base, "events", `events?${query}`);
  const rows = await response.json().catch(() => null);
  if (!Array.isArray(rows)) throw new ApiError("events answered with something other than a list");
  return rows;
}
