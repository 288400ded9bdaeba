/* Review page: walk through the review queue one digit at a time, by keyboard or buttons. */
"use strict";

(function () {
  const PER_PAGE = 100;
  const $ = (id) => document.getElementById(id);
  const root = $("review");
  const errorEl = $("error");
  const statusEl = $("status");
  const card = $("card");
  const confirmBtn = $("confirm");
  const labelButtons = $("label-buttons");
  const backBtn = $("back");
  const skipBtn = $("skip");
  const progressEl = $("progress");
  const emptyEl = $("empty");
  const againBtn = $("again");

  const query = new URLSearchParams({ per_page: String(PER_PAGE) });
  if (root.dataset.batchId) query.set("batch", root.dataset.batchId);
  if (root.dataset.below) query.set("below", root.dataset.below);

  /** Items as the API gave them, plus `.answer` (the label given here) or `.skipped`. */
  const queue = [];
  const seen = new Set();
  let pos = 0;
  let remaining = 0; // still to review on the server when last asked, minus answers since
  let answered = 0;
  let saving = false;

  const keyOf = (item) => item.recognition_id + "/" + item.position;

  /** Append the next digits not seen here yet (skipped ones stay on the server's list). */
  async function fetchMore() {
    let added = 0;
    for (let page = 1; !added; page++) {
      query.set("page", String(page));
      const data = await App.fetchJSON("/api/v1/review?" + query.toString(), {}, 15000);
      if (page === 1) remaining = data.total || 0;
      for (const item of data.items || []) {
        if (seen.has(keyOf(item))) continue;
        seen.add(keyOf(item));
        queue.push(item);
        added += 1;
      }
      if (page >= (data.pages || 0)) break;
    }
    return added;
  }

  // ------------------------------------------------------------------ showing one digit

  function renderLabelButtons(item) {
    labelButtons.textContent = "";
    for (let k = 0; k <= 9; k++) {
      const chosen = item.answer === k;
      labelButtons.appendChild(
        App.h("button", {
          type: "button",
          class: "label-btn" + (chosen ? " is-current" : ""),
          "aria-pressed": String(chosen),
          "aria-label": `It is a ${k}`,
          text: String(k),
          onclick: () => answer(k),
        }),
      );
    }
  }

  function showSource(item) {
    const source = $("source");
    const [x, y, w, h] = item.box || [0, 0, 0, 0];
    if (!item.image_url || !item.width || !item.height) {
      source.hidden = true;
      return;
    }
    source.hidden = false;
    const img = $("source-img");
    // small scans are scaled up (pixelated), big ones down, into a 280x168 box
    const scale = Math.min(168 / item.height, 280 / item.width);
    img.style.width = Math.round(item.width * scale) + "px";
    img.style.height = Math.round(item.height * scale) + "px";
    img.classList.toggle("is-small", scale > 1);
    img.src = item.image_url;
    img.alt = `The submitted image ${item.filename || ""}, with this digit outlined`;
    const box = $("source-box");
    box.style.left = (100 * x) / item.width + "%";
    box.style.top = (100 * y) / item.height + "%";
    box.style.width = (100 * w) / item.width + "%";
    box.style.height = (100 * h) / item.height + "%";
  }

  function alternatives(item) {
    const probs = (item.probabilities || []).map((p, k) => [p, k]).filter(([, k]) => k !== item.label);
    probs.sort((a, b) => b[0] - a[0]);
    const top = probs.slice(0, 2).filter(([p]) => p >= 0.01);
    return top.length ? "Otherwise: " + top.map(([p, k]) => `${k} (${App.percent(p)})`).join(", ") : "";
  }

  function show(focus = true) {
    const item = queue[pos];
    if (!item) return finish();
    card.hidden = false;
    emptyEl.hidden = true;
    $("item-position").textContent = `${pos + 1} of ${queue.length}`;
    $("item-file").textContent = item.filename ? `· ${item.filename}` : "";
    const img = $("digit-img");
    img.src = item.normalized_url;
    img.alt = `Digit ${item.position + 1} of its image, as the model saw it (28 by 28 pixels)`;
    $("predicted").textContent = String(item.label);
    $("confidence").textContent = App.percent(item.confidence) + " sure";
    $("alternatives").textContent = alternatives(item);
    $("confirm-label").textContent = String(item.label);
    const state = $("item-state");
    state.hidden = item.answer === undefined && !item.skipped;
    state.textContent =
      item.answer === undefined ? (item.skipped ? "Skipped." : "") : item.answer === item.label ? `You confirmed ${item.answer}.` : `You said ${item.answer}.`;
    renderLabelButtons(item);
    showSource(item);
    backBtn.disabled = pos === 0;
    progressEl.textContent = `${answered} reviewed here · ${Math.max(0, remaining)} still to review`;
    statusEl.textContent = `Digit ${pos + 1}: the model read ${item.label}, ${App.percent(item.confidence)} sure.`;
    if (focus) card.focus();
  }

  async function advance() {
    pos += 1;
    if (pos >= queue.length) {
      try {
        await fetchMore();
      } catch (err) {
        App.showAlert(errorEl, "Could not load more digits. " + App.messageOf(err));
      }
    }
    show();
  }

  function finish() {
    card.hidden = true;
    emptyEl.hidden = false;
    const skipped = queue.filter((i) => i.skipped && i.answer === undefined).length;
    $("empty-text").textContent =
      (answered ? `Done: ${answered} reviewed. ` : "") +
      (skipped ? `${skipped} skipped; nothing else left to review.` : "Nothing left to review.");
    againBtn.hidden = skipped === 0;
    statusEl.textContent = $("empty-text").textContent;
    progressEl.textContent = "";
  }

  // ------------------------------------------------------------------ answering

  async function answer(label) {
    const item = queue[pos];
    if (!item || saving) return;
    saving = true;
    App.showAlert(errorEl, "");
    statusEl.textContent = `Saving: it is a ${label}…`;
    try {
      await App.putLabel(item.label_url, label);
      if (item.answer === undefined) {
        answered += 1;
        remaining -= 1;
      }
      item.answer = label;
      item.skipped = false;
      saving = false;
      await advance();
      statusEl.textContent =
        (label === item.label ? `Confirmed ${label}. ` : `Saved: ${label}, not ${item.label}. `) + statusEl.textContent;
    } catch (err) {
      saving = false;
      statusEl.textContent = "";
      App.showAlert(errorEl, "The answer was not saved. " + App.messageOf(err));
    }
  }

  function skip() {
    const item = queue[pos];
    if (!item) return;
    if (item.answer === undefined) item.skipped = true;
    advance();
  }

  function back() {
    if (pos > 0) {
      pos -= 1;
      show();
    }
  }

  confirmBtn.addEventListener("click", () => queue[pos] && answer(queue[pos].label));
  skipBtn.addEventListener("click", skip);
  backBtn.addEventListener("click", back);
  againBtn.addEventListener("click", () => {
    const skipped = queue.filter((i) => i.skipped && i.answer === undefined);
    if (!skipped.length) return;
    queue.length = 0;
    queue.push(...skipped.map((i) => ({ ...i, skipped: false })));
    pos = 0;
    show();
  });

  document.addEventListener("keydown", (event) => {
    if (card.hidden || event.ctrlKey || event.metaKey || event.altKey) return;
    const label = App.digitKey(event);
    if (label !== null) {
      event.preventDefault();
      answer(label);
      return;
    }
    const onControl = event.target.closest && event.target.closest("button, a, input, select, textarea");
    if (event.key === "Enter" && !onControl) {
      event.preventDefault();
      confirmBtn.click();
    } else if (event.key === "ArrowRight" && !onControl) {
      event.preventDefault();
      skip();
    } else if (event.key === "ArrowLeft" && !onControl) {
      event.preventDefault();
      back();
    }
  });

  async function start() {
    try {
      await fetchMore();
      if (!queue.length) return finish();
      show();
    } catch (err) {
      statusEl.textContent = "";
      App.showAlert(
        errorEl,
        err.status === 404 ? "There is no batch with this id. It may have been removed." : "Could not load the review queue. " + App.messageOf(err),
      );
    }
  }

  start();
})();
