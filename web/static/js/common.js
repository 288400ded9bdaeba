/* Shared helpers: JSON fetch with a timeout, readable errors, small DOM helpers. */
"use strict";

window.App = (function () {
  const DEFAULT_TIMEOUT_MS = 15000;

  class ApiError extends Error {
    constructor(message, { status = 0, code = "network_error" } = {}) {
      super(message);
      this.name = "ApiError";
      this.status = status;
      this.code = code;
    }
  }

  /** fetch() that never hangs: aborts after timeoutMs (or when `signal` aborts). */
  async function fetchWithTimeout(url, options = {}, timeoutMs = DEFAULT_TIMEOUT_MS) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException("timeout", "TimeoutError")), timeoutMs);
    const outer = options.signal;
    const onOuterAbort = () => controller.abort(outer.reason);
    if (outer) {
      if (outer.aborted) controller.abort(outer.reason);
      else outer.addEventListener("abort", onOuterAbort, { once: true });
    }
    try {
      return await fetch(url, { ...options, signal: controller.signal });
    } catch (err) {
      if (outer && outer.aborted) throw err; // cancelled by the caller: pass through
      if (controller.signal.aborted) {
        throw new ApiError("The service did not answer in time. Please try again in a moment.", {
          code: "timeout",
        });
      }
      throw new ApiError("Could not reach the service. Check your connection or try again later.", {
        code: "network_error",
      });
    } finally {
      clearTimeout(timer);
      if (outer) outer.removeEventListener("abort", onOuterAbort);
    }
  }

  /** Read an error body `{"error": {"code", "message"}}` into an ApiError. */
  async function errorFromResponse(response) {
    let code = "http_" + response.status;
    let message = "";
    try {
      const body = await response.json();
      if (body && body.error) {
        code = body.error.code || code;
        message = body.error.message || "";
      }
    } catch (_) {
      /* not JSON */
    }
    if (!message) {
      message =
        response.status >= 500
          ? "The service is having trouble right now (error " + response.status + "). Please try again later."
          : "The request was refused (error " + response.status + ").";
    } else if (response.status >= 500) {
      message = "The service is having trouble right now: " + message;
    }
    return new ApiError(message, { status: response.status, code });
  }

  /** GET/POST JSON; resolves to the parsed body, rejects with ApiError. */
  async function fetchJSON(url, options = {}, timeoutMs = DEFAULT_TIMEOUT_MS) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    const response = await fetchWithTimeout(url, { credentials: "same-origin", ...options, headers }, timeoutMs);
    if (!response.ok) throw await errorFromResponse(response);
    try {
      return await response.json();
    } catch (_) {
      throw new ApiError("The service sent an answer that could not be read.", {
        status: response.status,
        code: "bad_response",
      });
    }
  }

  function messageOf(err) {
    if (err instanceof ApiError) return err.message;
    return "Something went wrong: " + (err && err.message ? err.message : String(err));
  }

  /** Show (or clear, with an empty message) a message in an alert region. */
  function showAlert(region, message, kind = "error") {
    if (!region) return;
    region.textContent = "";
    region.hidden = !message;
    region.dataset.kind = kind;
    if (message) {
      const p = document.createElement("p");
      p.textContent = message;
      region.appendChild(p);
    }
  }

  /** h("td", {class: "x", text: "y"}, child, ...) */
  function h(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = value;
      else if (key === "class") node.className = value;
      // CSSOM, not a style attribute: the CSP (style-src 'self') blocks inline style attributes
      else if (key === "style" && typeof value === "object") Object.assign(node.style, value);
      else if (key.startsWith("on") && typeof value === "function") node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function percent(value, digits = 0) {
    if (value === null || value === undefined || Number.isNaN(value)) return "–";
    let text = (value * 100).toFixed(digits);
    // never round a value below 1 up to "100%": 0.996 reads as 99.6%, not certainty
    if (value < 1 && parseFloat(text) >= 100) text = (Math.floor(value * 1000) / 10).toFixed(1);
    return text + "%";
  }

  function formatDate(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    if (Number.isNaN(d.getTime())) return iso;
    return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
  }

  function formatDuration(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) return "–";
    seconds = Math.round(seconds);
    if (seconds < 60) return seconds + " s";
    const m = Math.floor(seconds / 60);
    const s = seconds % 60;
    if (m < 60) return m + " min " + String(s).padStart(2, "0") + " s";
    return Math.floor(m / 60) + " h " + String(m % 60).padStart(2, "0") + " min";
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Correct (or confirm) a digit: PUT {"label"} to its label_url; resolves to the recognition. */
  function putLabel(labelUrl, label) {
    return fetchJSON(
      labelUrl,
      { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ label }) },
      15000,
    );
  }

  /** The digit 0-9 a keydown means, or null (modifier keys, or typing in a form field). */
  function digitKey(event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return null;
    const target = event.target;
    if (target && target.closest && target.closest("input, textarea, select, [contenteditable]")) return null;
    return /^[0-9]$/.test(event.key) ? Number(event.key) : null;
  }

  /** The label a user gave a digit, else the model's. */
  const shownLabel = (digit) => (digit.correction ? digit.correction.label : digit.label);

  return {
    ApiError,
    fetchWithTimeout,
    fetchJSON,
    messageOf,
    showAlert,
    h,
    percent,
    formatDate,
    formatDuration,
    sleep,
    putLabel,
    digitKey,
    shownLabel,
  };
})();
