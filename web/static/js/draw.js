/* Draw page: pointer-event drawing pad, undo/clear, submit as PNG, poll, show the answer. */
"use strict";

(function () {
  const UNSURE_BELOW = 0.7;
  const POLL_DEADLINE_MS = 90000;
  const INK = "#111827";

  const pad = document.getElementById("pad");
  const overlay = document.getElementById("overlay");
  const hint = document.getElementById("canvas-hint");
  const ctx = pad.getContext("2d");
  const octx = overlay.getContext("2d");
  const brush = document.getElementById("brush");
  const brushValue = document.getElementById("brush-value");
  const undoBtn = document.getElementById("undo");
  const clearBtn = document.getElementById("clear");
  const recognizeBtn = document.getElementById("recognize");
  const statusEl = document.getElementById("status");
  const errorEl = document.getElementById("error");
  const resultEl = document.getElementById("result");
  const answerText = document.getElementById("answer-text");
  const answerConfidence = document.getElementById("answer-confidence");
  const unsureEl = document.getElementById("unsure");
  const picker = document.getElementById("digit-picker");
  const pickerWrap = document.getElementById("digit-picker-wrap");
  const detail = document.getElementById("digit-detail");
  const normalizedImg = document.getElementById("normalized");
  const chart = document.getElementById("prob-chart");
  const chartCaption = document.getElementById("probs-caption");
  const correctedNote = document.getElementById("corrected-note");
  const correctButtons = document.getElementById("correct-buttons");
  const correctionStatus = document.getElementById("correction-status");

  /** @type {{size: number, points: number[][]}[]} */
  const strokes = [];
  let current = null;
  let busy = false;
  let result = null; // the last recognition shown
  let selected = 0;

  // ------------------------------------------------------------------ sizing

  const stack = document.getElementById("canvas-stack");

  /** Fit the pads' pixel height to the CSS box (2:1 on wide screens, taller on phones).
   * Only while the pad is empty: once drawn on, the aspect ratio is locked. */
  function fitPad() {
    if (strokes.length) return;
    stack.style.aspectRatio = "";
    const rect = pad.getBoundingClientRect();
    if (!rect.width || !rect.height) return;
    const height = Math.max(200, Math.min(640, Math.round((pad.width * rect.height) / rect.width)));
    if (height !== pad.height) {
      pad.height = overlay.height = height;
    }
    stack.style.aspectRatio = `${pad.width} / ${pad.height}`;
  }
  let resizeTimer = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(fitPad, 100);
  });

  // ------------------------------------------------------------------ drawing

  function toCanvas(event) {
    const rect = pad.getBoundingClientRect();
    return [
      ((event.clientX - rect.left) * pad.width) / rect.width,
      ((event.clientY - rect.top) * pad.height) / rect.height,
    ];
  }

  function strokeStyle(size) {
    ctx.strokeStyle = INK;
    ctx.fillStyle = INK;
    ctx.lineWidth = size;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
  }

  function dot(p, size) {
    ctx.beginPath();
    ctx.arc(p[0], p[1], size / 2, 0, Math.PI * 2);
    ctx.fill();
  }

  function segment(a, b, size) {
    strokeStyle(size);
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
  }

  function drawStroke(stroke) {
    strokeStyle(stroke.size);
    const pts = stroke.points;
    if (pts.length === 1) return dot(pts[0], stroke.size);
    ctx.beginPath();
    ctx.moveTo(pts[0][0], pts[0][1]);
    for (let i = 1; i < pts.length; i++) ctx.lineTo(pts[i][0], pts[i][1]);
    ctx.stroke();
  }

  function redraw() {
    ctx.clearRect(0, 0, pad.width, pad.height);
    strokes.forEach(drawStroke);
  }

  function updateButtons() {
    const empty = strokes.length === 0;
    undoBtn.disabled = empty || busy;
    clearBtn.disabled = empty || busy;
    recognizeBtn.disabled = empty || busy;
    hint.hidden = !empty;
  }

  function drawingChanged() {
    clearOverlay();
    if (result) statusEl.textContent = "The drawing changed. Press Recognize to read it again.";
    updateButtons();
  }

  pad.addEventListener("pointerdown", (event) => {
    if (busy || (event.pointerType === "mouse" && event.button !== 0)) return;
    event.preventDefault();
    try {
      pad.setPointerCapture(event.pointerId);
    } catch (_) {
      /* synthetic or already released pointer: drawing still works without capture */
    }
    const p = toCanvas(event);
    current = { size: Number(brush.value), points: [p], pointerId: event.pointerId };
    strokes.push(current);
    strokeStyle(current.size);
    dot(p, current.size);
    drawingChanged();
  });

  pad.addEventListener("pointermove", (event) => {
    if (!current || event.pointerId !== current.pointerId) return;
    event.preventDefault();
    const events = typeof event.getCoalescedEvents === "function" ? event.getCoalescedEvents() : [];
    for (const e of events.length ? events : [event]) {
      const p = toCanvas(e);
      const last = current.points[current.points.length - 1];
      if (Math.abs(p[0] - last[0]) < 0.5 && Math.abs(p[1] - last[1]) < 0.5) continue;
      current.points.push(p);
      segment(last, p, current.size);
    }
  });

  function endStroke(event) {
    if (!current || event.pointerId !== current.pointerId) return;
    delete current.pointerId;
    current = null;
    updateButtons();
  }
  pad.addEventListener("pointerup", endStroke);
  pad.addEventListener("pointercancel", endStroke);
  pad.addEventListener("lostpointercapture", endStroke);

  brush.addEventListener("input", () => {
    brushValue.textContent = brush.value + " px";
  });

  function undo() {
    if (busy || !strokes.length) return;
    strokes.pop();
    redraw();
    drawingChanged();
    statusEl.textContent = strokes.length ? "Last stroke removed." : "Drawing is empty.";
  }

  function clearAll() {
    if (busy) return;
    strokes.length = 0;
    fitPad();
    redraw();
    clearOverlay();
    result = null;
    resultEl.hidden = true;
    App.showAlert(errorEl, "");
    statusEl.textContent = "Cleared. Draw a digit to start.";
    updateButtons();
  }

  undoBtn.addEventListener("click", undo);
  clearBtn.addEventListener("click", clearAll);
  document.addEventListener("keydown", (event) => {
    const inField = event.target.closest && event.target.closest("input, textarea, select");
    if (!inField && (event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "z") {
      event.preventDefault();
      undo();
    }
  });

  // ------------------------------------------------------------------ overlay

  function clearOverlay() {
    octx.clearRect(0, 0, overlay.width, overlay.height);
  }

  function drawBoxes() {
    clearOverlay();
    if (!result || !result.digits) return;
    // Boxes are in the submitted image's pixels; the overlay has the pad's pixel size and both
    // canvases are scaled together by CSS, so only a width/height mismatch needs scaling.
    const sx = overlay.width / (result.width || overlay.width);
    const sy = overlay.height / (result.height || overlay.height);
    const font = Math.max(14, Math.round(overlay.height / 14));
    result.digits.forEach((d, i) => {
      if (!d.box) return;
      const [x, y, w, h] = d.box;
      const isSel = i === selected;
      const unsure = d.confidence !== null && d.confidence < UNSURE_BELOW;
      const color = unsure ? "#b45309" : "#1d4ed8";
      octx.lineWidth = isSel ? 4 : 2;
      octx.strokeStyle = color;
      octx.setLineDash(isSel ? [] : [8, 5]);
      octx.strokeRect(x * sx, y * sy, w * sx, h * sy);
      octx.setLineDash([]);
      const label = d.correction ? String(d.correction.label) + "✓" : String(d.label) + (unsure ? "?" : "");
      octx.font = `bold ${font}px system-ui, sans-serif`;
      const tw = octx.measureText(label).width + 10;
      const ty = y * sy - font - 6 >= 0 ? y * sy - font - 6 : y * sy + h * sy;
      octx.fillStyle = color;
      octx.fillRect(x * sx - (isSel ? 2 : 1), ty, tw, font + 6);
      octx.fillStyle = "#fff";
      octx.textBaseline = "top";
      octx.fillText(label, x * sx + 4, ty + 3);
    });
  }

  // ------------------------------------------------------------------ result

  function renderResult(rec, keepSelection = false) {
    const pickerFocused = picker.contains(document.activeElement);
    result = rec;
    if (!keepSelection) selected = 0;
    correctionStatus.textContent = keepSelection ? correctionStatus.textContent : "";
    const digits = rec.digits || [];
    resultEl.hidden = false;
    if (!digits.length || !rec.text) {
      answerText.textContent = "—";
      answerConfidence.textContent = "";
      unsureEl.hidden = false;
      unsureEl.textContent = "No digits were found. Try drawing larger or with a thicker brush.";
      pickerWrap.hidden = true;
      detail.hidden = true;
      statusEl.textContent = "No digits found.";
      clearOverlay();
      return;
    }
    answerText.textContent = rec.corrected_text || rec.text;
    answerConfidence.textContent = "confidence " + App.percent(rec.confidence);
    correctedNote.hidden = !rec.corrected_text;
    correctedNote.textContent = rec.corrected_text ? `Corrected by you; the model read ${rec.text}.` : "";
    const unsure = rec.confidence !== null && rec.confidence < UNSURE_BELOW;
    unsureEl.hidden = !unsure;
    unsureEl.textContent = unsure
      ? "Not sure about this one — the model's confidence is only " +
        App.percent(rec.confidence) +
        ". Digits marked with “?” are uncertain; try writing them more clearly."
      : "";
    statusEl.textContent =
      "Recognized " + rec.text + " with " + App.percent(rec.confidence) + " confidence" + (unsure ? " (not sure)." : ".");
    pickerWrap.hidden = digits.length < 2;
    detail.hidden = false;
    picker.textContent = "";
    digits.forEach((d, i) => {
      const low = !d.correction && d.confidence !== null && d.confidence < UNSURE_BELOW;
      const said = d.correction
        ? `${d.correction.label}, corrected by you (the model read ${d.label})`
        : `${d.label}, ${App.percent(d.confidence)} confident`;
      const btn = App.h(
        "button",
        {
          type: "button",
          class: "digit-btn" + (low ? " is-unsure" : "") + (d.correction ? " is-corrected" : ""),
          "aria-pressed": String(i === selected),
          "aria-label": `Digit ${i + 1} of ${digits.length}: ${said}`,
          tabindex: i === selected ? "0" : "-1",
          onclick: () => select(i, true),
        },
        String(App.shownLabel(d)) + (low ? "?" : ""),
      );
      picker.appendChild(btn);
    });
    select(selected, keepSelection && pickerFocused);
  }

  function select(i, focus) {
    const digits = result.digits;
    selected = Math.max(0, Math.min(digits.length - 1, i));
    [...picker.children].forEach((btn, j) => {
      btn.setAttribute("aria-pressed", String(j === selected));
      btn.tabIndex = j === selected ? 0 : -1;
      if (j === selected && focus) btn.focus();
    });
    const d = digits[selected];
    normalizedImg.src = d.normalized_url;
    normalizedImg.alt = `Digit ${selected + 1} (${d.label}) as the model saw it: a 28 by 28 pixel image`;
    chartCaption.textContent =
      digits.length > 1
        ? `Probabilities for the digit read as ${d.label} (${selected + 1} of ${digits.length})`
        : `Probabilities for ${d.label}`;
    renderChart(d);
    renderCorrectButtons(d);
    drawBoxes();
  }

  // ------------------------------------------------------------------ corrections

  function renderCorrectButtons(d) {
    correctButtons.textContent = "";
    for (let k = 0; k <= 9; k++) {
      const current = App.shownLabel(d) === k;
      correctButtons.appendChild(
        App.h("button", {
          type: "button",
          class: "label-btn" + (current ? " is-current" : ""),
          "aria-pressed": String(current),
          "aria-label": `This digit is a ${k}`,
          text: String(k),
          onclick: () => correct(k),
        }),
      );
    }
  }

  let correcting = false;

  /** Tell the service that the selected digit is `label`; show it at once. */
  async function correct(label) {
    if (!result || busy || correcting || !(result.digits || []).length) return;
    const index = selected;
    const d = result.digits[index];
    if (!d.label_url) return;
    correcting = true;
    const focusButtons = correctButtons.contains(document.activeElement);
    correctionStatus.textContent = `Saving: digit ${index + 1} is a ${label}…`;
    try {
      const rec = await App.putLabel(d.label_url, label);
      correctionStatus.textContent =
        label === d.label
          ? `Confirmed: digit ${index + 1} is a ${label}. Thank you!`
          : `Corrected digit ${index + 1} from ${d.label} to ${label}. Thank you!`;
      renderResult(rec, true);
      if (focusButtons) correctButtons.children[label].focus();
    } catch (err) {
      correctionStatus.textContent = "";
      App.showAlert(errorEl, "The correction was not saved. " + App.messageOf(err));
    } finally {
      correcting = false;
    }
  }

  document.addEventListener("keydown", (event) => {
    const label = App.digitKey(event);
    if (label === null || !result || resultEl.hidden) return;
    event.preventDefault();
    correct(label);
  });

  picker.addEventListener("keydown", (event) => {
    if (!result) return;
    const keys = { ArrowRight: 1, ArrowDown: 1, ArrowLeft: -1, ArrowUp: -1 };
    if (event.key in keys) {
      event.preventDefault();
      select(selected + keys[event.key], true);
    } else if (event.key === "Home") {
      event.preventDefault();
      select(0, true);
    } else if (event.key === "End") {
      event.preventDefault();
      select(result.digits.length - 1, true);
    }
  });

  function renderChart(d) {
    chart.textContent = "";
    const probs = d.probabilities || [];
    probs.forEach((p, k) => {
      const top = k === d.label;
      chart.appendChild(
        App.h(
          "li",
          { class: "prob-row" + (top ? " is-top" : "") },
          App.h("span", { class: "prob-digit", text: String(k) }),
          App.h(
            "span",
            { class: "prob-track", "aria-hidden": "true" },
            App.h("span", { class: "prob-bar", style: { width: `${Math.max(0, Math.min(1, p)) * 100}%` } }),
          ),
          App.h("span", { class: "prob-value", text: App.percent(p, 1) }),
        ),
      );
    });
  }

  // ------------------------------------------------------------------ submit and poll

  function setBusy(value) {
    busy = value;
    recognizeBtn.setAttribute("aria-busy", String(value));
    recognizeBtn.textContent = value ? "Recognizing…" : "Recognize";
    pad.classList.toggle("is-busy", value);
    updateButtons();
  }

  async function recognize() {
    if (busy || !strokes.length) return;
    setBusy(true);
    App.showAlert(errorEl, "");
    statusEl.textContent = "Sending your drawing…";
    try {
      const image = pad.toDataURL("image/png");
      const created = await App.fetchJSON(
        "/api/v1/recognitions?source=draw",
        {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ image }),
        },
        20000,
      );
      statusEl.textContent = "Recognizing…";
      const url = created.url || "/api/v1/recognitions/" + encodeURIComponent(created.id);
      const deadline = Date.now() + POLL_DEADLINE_MS;
      let rec = created;
      while (rec.status !== "done" && rec.status !== "failed") {
        if (Date.now() > deadline) {
          throw new App.ApiError(
            "The recognition is taking longer than expected. The service may be busy; please try again later.",
            { code: "too_slow" },
          );
        }
        rec = await App.fetchJSON(url + (url.includes("?") ? "&" : "?") + "wait=10", {}, 15000);
        if (rec.status === "queued") statusEl.textContent = "Waiting in the queue…";
      }
      if (rec.status === "failed") {
        result = null;
        resultEl.hidden = true;
        clearOverlay();
        App.showAlert(errorEl, "The drawing could not be recognized: " + (rec.error || "unknown error") + ".");
        statusEl.textContent = "Recognition failed.";
      } else {
        renderResult(rec);
      }
    } catch (err) {
      App.showAlert(errorEl, App.messageOf(err));
      statusEl.textContent = "Recognition failed.";
    } finally {
      setBusy(false);
    }
  }

  recognizeBtn.addEventListener("click", recognize);
  fitPad();
  updateButtons();
})();
