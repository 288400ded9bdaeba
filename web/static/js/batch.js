/* Batch page: live progress (polling the batch), then a paged, filterable results table. */
"use strict";

(function () {
  const POLL_MS = 1000;
  const PER_PAGE = 50;
  const UNSURE_BELOW = 0.7;

  const root = document.getElementById("batch");
  const batchId = root.dataset.batchId;
  const api = "/api/v1/batches/" + encodeURIComponent(batchId);

  const $ = (id) => document.getElementById(id);
  const errorEl = $("error");
  const badge = $("status-badge");
  const progress = $("progress");
  const progressLabel = $("progress-label");
  const progressText = $("progress-text");
  const progressStatus = $("progress-status");
  const resultsSection = $("results");
  const resultsWait = $("results-wait");
  const resultsStatus = $("results-status");
  const tbody = $("results-body");
  const onlyFailed = $("only-failed");
  const failedCount = $("failed-count");
  const onlyReview = $("only-review");
  const reviewCount = $("review-count");
  const reviewLink = $("review-link");
  const correctionStatus = $("correction-status");
  const prevBtn = $("prev");
  const nextBtn = $("next");
  const pageInfo = $("page-info");

  const params = new URLSearchParams(window.location.search);
  let page = Math.max(1, parseInt(params.get("page") || "1", 10) || 1);
  onlyFailed.checked = params.get("status") === "failed";
  onlyReview.checked = params.get("needs_review") === "true";

  let batch = null;
  let finished = false;
  let resultsUrl = api + "/results";
  const samples = []; // [clientMillis, processed]
  let lastAnnouncedDecile = -1;
  let resultsController = null;

  // ------------------------------------------------------------------ progress

  function processed(b) {
    return (b.done || 0) + (b.failed || 0);
  }

  function rate(b) {
    // Finished: the server's own clock. Running: what this page has watched (last ~30 s).
    if (finished && b.finished_at) {
      const end = Date.parse(b.finished_at);
      let start = Date.parse(b.started_at || b.created_at);
      if (!(end - start > 0)) start = Date.parse(b.created_at);
      const seconds = (end - start) / 1000;
      return seconds > 0 ? processed(b) / seconds : null;
    }
    if (samples.length < 2) return null;
    const [t1, n1] = samples[samples.length - 1];
    let k = 0;
    while (k < samples.length - 2 && t1 - samples[k][0] > 30000) k++;
    const [t0, n0] = samples[k];
    if (t1 - t0 < 1500) return null;
    return ((n1 - n0) * 1000) / (t1 - t0);
  }

  function renderBatch(b) {
    const total = b.total || 0;
    const n = processed(b);
    const fraction = total ? n / total : finished ? 1 : 0;
    const pct = Math.round(fraction * 100);
    progress.value = pct;
    progressText.textContent = pct + "%";
    progressLabel.textContent = finished
      ? `Finished: ${n} of ${total} images processed`
      : b.status === "queued"
        ? `Queued: ${n} of ${total} images processed`
        : `Processing: ${n} of ${total} images`;
    badge.textContent = b.status;
    badge.className = "badge badge-" + b.status;
    $("created").textContent = App.formatDate(b.created_at);
    $("stat-done").textContent = b.done ?? "–";
    $("stat-failed").textContent = b.failed ?? "–";
    $("stat-failed").parentElement.classList.toggle("is-failed", (b.failed || 0) > 0);
    $("stat-total").textContent = total;
    const r = rate(b);
    $("stat-rate").textContent = r === null ? "–" : r >= 10 ? r.toFixed(0) : r.toFixed(1);
    if (finished) {
      $("stat-eta").textContent = "done";
    } else if (r && r > 0) {
      $("stat-eta").textContent = App.formatDuration((total - n) / r);
    } else {
      $("stat-eta").textContent = "–";
    }
    const decile = finished ? 10 : Math.floor(fraction * 10);
    if (decile !== lastAnnouncedDecile) {
      lastAnnouncedDecile = decile;
      progressStatus.textContent = finished
        ? `Batch finished: ${b.done} done, ${b.failed} failed, ${total} total.`
        : `${pct}% processed.`;
    }
    failedCount.textContent = b.failed ? `(${b.failed})` : "";
    const flagged = b.needs_review;
    $("stat-review").textContent = flagged ?? "–";
    $("review-stat").classList.toggle("is-review", (flagged || 0) > 0);
    reviewCount.textContent = flagged ? `(${flagged})` : "";
    reviewLink.hidden = !(finished && flagged > 0);
    if (flagged > 0) reviewLink.textContent = `Review ${flagged === 1 ? "it" : "them"} one by one`;
  }

  async function poll() {
    let failures = 0;
    for (;;) {
      try {
        const b = await App.fetchJSON(api, {}, 10000);
        failures = 0;
        App.showAlert(errorEl, "");
        batch = b;
        if (b.results_url) resultsUrl = b.results_url;
        finished = b.status !== "queued" && b.status !== "processing";
        samples.push([Date.now(), processed(b)]);
        if (samples.length > 120) samples.shift();
        renderBatch(b);
        if (finished) {
          showResults();
          return;
        }
        await App.sleep(POLL_MS);
      } catch (err) {
        failures += 1;
        if (err.status === 404) {
          App.showAlert(errorEl, "There is no batch with this id. It may have been removed.");
          progressLabel.textContent = "Not found";
          badge.textContent = "not found";
          return;
        }
        const delay = Math.min(30000, POLL_MS * 2 ** Math.min(failures, 5));
        App.showAlert(errorEl, App.messageOf(err) + ` Retrying in ${Math.round(delay / 1000)} s…`);
        await App.sleep(delay);
      }
    }
  }

  // ------------------------------------------------------------------ results

  function showResults() {
    resultsSection.hidden = false;
    resultsWait.hidden = true;
    loadResults();
  }

  function syncUrl() {
    const q = new URLSearchParams();
    if (page > 1) q.set("page", String(page));
    if (onlyFailed.checked) q.set("status", "failed");
    if (onlyReview.checked) q.set("needs_review", "true");
    const qs = q.toString();
    window.history.replaceState(null, "", window.location.pathname + (qs ? "?" + qs : ""));
  }

  async function loadResults() {
    if (resultsController) resultsController.abort();
    const controller = new AbortController();
    resultsController = controller;
    syncUrl();
    const q = new URLSearchParams({ page: String(page), per_page: String(PER_PAGE) });
    if (onlyFailed.checked) q.set("status", "failed");
    if (onlyReview.checked) q.set("needs_review", "true");
    resultsStatus.textContent = "Loading results…";
    prevBtn.disabled = nextBtn.disabled = true;
    try {
      const data = await App.fetchJSON(resultsUrl + "?" + q.toString(), { signal: controller.signal }, 15000);
      if (controller.signal.aborted) return;
      if (data.pages && page > data.pages) {
        page = data.pages;
        return loadResults();
      }
      renderResults(data);
    } catch (err) {
      if (controller.signal.aborted) return;
      resultsStatus.textContent = "";
      App.showAlert(errorEl, "Could not load the results. " + App.messageOf(err));
    }
  }

  function statusCell(item) {
    if (item.status === "failed") {
      return App.h(
        "td",
        {},
        App.h("span", { class: "badge badge-failed", text: "failed" }),
        " ",
        App.h("span", { class: "reason", text: item.error || "unknown error" }),
      );
    }
    const low = item.status === "done" && item.confidence !== null && item.confidence < UNSURE_BELOW;
    return App.h(
      "td",
      {},
      App.h("span", { class: "badge badge-" + item.status, text: item.status }),
      item.needs_review ? App.h("span", { class: "badge badge-review", text: "needs review" }) : null,
      low && !item.needs_review ? App.h("span", { class: "help", text: " not sure" }) : null,
    );
  }

  // ------------------------------------------------------------------ digits and corrections

  function chipLabel(item, d, i) {
    const n = item.digits.length;
    const said = d.correction
      ? `${d.correction.label}, corrected (the model read ${d.label})`
      : `${d.label}, ${App.percent(d.confidence)} confident` + (d.needs_review ? ", needs review" : "");
    return `${item.filename || "image"}, digit ${i + 1} of ${n}: ${said}. Press 0 to 9 to correct.`;
  }

  function chip(item, d, i) {
    const unsure = !d.correction && d.needs_review;
    return App.h(
      "button",
      {
        type: "button",
        class: "chip" + (unsure ? " is-unsure" : "") + (d.correction ? " is-corrected" : ""),
        tabindex: "-1",
        "aria-label": chipLabel(item, d, i),
        title: d.correction ? `The model read ${d.label}` : App.percent(d.confidence) + " confident",
        "data-item": item.id,
        "data-position": String(i),
      },
      String(App.shownLabel(d)) + (unsure ? "?" : ""),
    );
  }

  function digitsCell(item) {
    const digits = item.digits || [];
    if (item.status !== "done" || !digits.length) {
      return App.h("td", { class: "text-cell" }, item.text || (item.status === "done" ? "—" : ""));
    }
    return App.h("td", { class: "text-cell chips" }, ...digits.map((d, i) => chip(item, d, i)));
  }

  const itemsById = new Map();
  const chips = () => [...tbody.querySelectorAll(".chip")];

  /** One tab stop for all the digits (roving tabindex); arrows move between them. */
  function focusChip(target, focus = true) {
    for (const c of chips()) c.tabIndex = c === target ? 0 : -1;
    if (target && focus) target.focus();
  }

  async function correctChip(button, label) {
    const item = itemsById.get(button.dataset.item);
    const position = Number(button.dataset.position);
    const d = item && item.digits[position];
    if (!d || button.getAttribute("aria-busy") === "true") return;
    button.setAttribute("aria-busy", "true");
    try {
      const rec = await App.putLabel(d.label_url, label);
      itemsById.set(rec.id, rec);
      const fresh = chip(rec, rec.digits[position], position);
      button.replaceWith(fresh);
      focusChip(fresh);
      correctionStatus.textContent =
        label === d.label
          ? `Confirmed: digit ${position + 1} of ${rec.filename || "the image"} is a ${label}.`
          : `Corrected digit ${position + 1} of ${rec.filename || "the image"} from ${d.label} to ${label}.`;
    } catch (err) {
      button.removeAttribute("aria-busy");
      App.showAlert(errorEl, "The correction was not saved. " + App.messageOf(err));
    }
  }

  tbody.addEventListener("keydown", (event) => {
    const button = event.target.closest && event.target.closest(".chip");
    if (!button) return;
    const label = App.digitKey(event);
    if (label !== null) {
      event.preventDefault();
      correctChip(button, label);
      return;
    }
    const all = chips();
    const at = all.indexOf(button);
    const row = (c) => c.closest("tr");
    let next = null;
    if (event.key === "ArrowRight") next = all[at + 1];
    else if (event.key === "ArrowLeft") next = all[at - 1];
    else if (event.key === "ArrowDown") next = all.slice(at + 1).find((c) => row(c) !== row(button));
    else if (event.key === "ArrowUp") {
      const above = all.slice(0, at).filter((c) => row(c) !== row(button));
      next = above.length ? above.find((c) => row(c) === row(above[above.length - 1])) : null;
    } else if (event.key === "Home") next = all[0];
    else if (event.key === "End") next = all[all.length - 1];
    else return;
    event.preventDefault();
    if (next) focusChip(next);
  });
  tbody.addEventListener("click", (event) => {
    const button = event.target.closest && event.target.closest(".chip");
    if (button) focusChip(button);
  });

  function renderResults(data) {
    tbody.textContent = "";
    itemsById.clear();
    const items = data.items || [];
    for (const item of items) {
      itemsById.set(item.id, item);
      const name = item.filename || item.id;
      const thumb = item.image_url
        ? App.h("img", { class: "thumb", src: item.image_url, alt: "", loading: "lazy", width: "48", height: "48" })
        : App.h("span", { class: "thumb-missing", text: "removed" });
      tbody.appendChild(
        App.h(
          "tr",
          { class: "status-" + item.status },
          App.h("td", {}, thumb),
          App.h("td", { class: "filename" }, name),
          digitsCell(item),
          App.h("td", { class: "num" }, item.status === "done" ? App.percent(item.confidence) : ""),
          statusCell(item),
        ),
      );
    }
    const total = data.total || 0;
    const pages = Math.max(1, data.pages || 1);
    page = data.page || page;
    focusChip(chips()[0], false);
    if (!items.length) {
      tbody.appendChild(
        App.h(
          "tr",
          {},
          App.h("td", {
            colspan: "5",
            class: "empty",
            text: onlyFailed.checked ? "No failed images." : onlyReview.checked ? "No images need review." : "No results.",
          }),
        ),
      );
    }
    const from = total ? (page - 1) * (data.per_page || PER_PAGE) + 1 : 0;
    const to = Math.min(total, from + items.length - 1);
    const what = (onlyFailed.checked ? " failed" : "") + " image" + (total === 1 ? "" : "s");
    const which = onlyReview.checked ? (total === 1 ? " that needs review" : " that need review") : "";
    resultsStatus.textContent = `${total}${what}${which}` + (total ? `, showing ${from}–${to}.` : ".");
    pageInfo.textContent = `Page ${page} of ${pages}`;
    prevBtn.disabled = page <= 1;
    nextBtn.disabled = page >= pages;
  }

  prevBtn.addEventListener("click", () => {
    if (page > 1) {
      page -= 1;
      loadResults();
    }
  });
  nextBtn.addEventListener("click", () => {
    page += 1;
    loadResults();
  });
  onlyFailed.addEventListener("change", () => {
    page = 1;
    if (finished) loadResults();
  });
  onlyReview.addEventListener("change", () => {
    page = 1;
    if (finished) loadResults();
  });

  poll();
})();
