/* History page: recognitions and batches from this browser (the API reads its session cookie). */
"use strict";

(function () {
  const PER_PAGE = 12;
  const UNSURE_BELOW = 0.7;
  const $ = (id) => document.getElementById(id);
  const errorEl = $("error");
  const statusEl = $("status");
  const recList = $("recognitions");
  const batchBody = $("batches");
  const prevBtn = $("prev");
  const nextBtn = $("next");

  let page = Math.max(1, parseInt(new URLSearchParams(window.location.search).get("page") || "1", 10) || 1);

  const plural = (n, one, many = one + "s") => `${n} ${n === 1 ? one : many}`;

  function recognitionItem(r) {
    const img = r.image_url
      ? App.h("img", { src: r.image_url, alt: r.filename ? `Image ${r.filename}` : "Submitted drawing", loading: "lazy" })
      : App.h("span", { class: "thumb-missing", text: "image removed" });
    let text;
    if (r.status === "done") {
      const low = r.confidence !== null && r.confidence < UNSURE_BELOW;
      text = App.h(
        "p",
        { class: "text-cell" },
        r.corrected_text || r.text || "—",
        " ",
        App.h("small", {
          text: r.corrected_text
            ? `corrected (the model read ${r.text})`
            : App.percent(r.confidence) + (low ? " · not sure" : ""),
        }),
      );
    } else if (r.status === "failed") {
      text = App.h("p", { class: "reason", text: "Failed: " + (r.error || "unknown error") });
    } else {
      text = App.h("p", {}, App.h("span", { class: "badge badge-" + r.status, text: r.status }));
    }
    return App.h(
      "li",
      { class: "history-item" },
      img,
      text,
      App.h("small", {}, App.h("time", { datetime: r.created_at || "", text: App.formatDate(r.created_at) })),
    );
  }

  function batchRow(b) {
    const n = (b.done || 0) + (b.failed || 0);
    return App.h(
      "tr",
      {},
      App.h("td", {}, App.h("time", { datetime: b.created_at || "", text: App.formatDate(b.created_at) })),
      App.h("td", {}, App.h("span", { class: "badge badge-" + b.status, text: b.status })),
      App.h("td", { class: "num" }, `${n} of ${b.total} images`),
      App.h("td", { class: "num" }, String(b.failed || 0)),
      App.h(
        "td",
        {},
        App.h("a", {
          href: "/batches/" + encodeURIComponent(b.id),
          text: "Open batch",
          "aria-label": "Open batch from " + App.formatDate(b.created_at),
        }),
      ),
    );
  }

  async function load() {
    statusEl.textContent = "Loading…";
    prevBtn.disabled = nextBtn.disabled = true;
    try {
      const data = await App.fetchJSON(`/api/v1/history?page=${page}&per_page=${PER_PAGE}`, {}, 15000);
      App.showAlert(errorEl, "");
      const recs = data.recognitions || [];
      const batches = data.batches || [];
      const per = data.per_page || PER_PAGE;
      const pages = Math.max(
        1,
        Math.ceil((data.total_recognitions || 0) / per),
        Math.ceil((data.total_batches || 0) / per),
      );
      recList.textContent = "";
      recs.forEach((r) => recList.appendChild(recognitionItem(r)));
      batchBody.textContent = "";
      batches.forEach((b) => batchBody.appendChild(batchRow(b)));
      $("rec-count").textContent = `(${data.total_recognitions || 0})`;
      $("batch-count").textContent = `(${data.total_batches || 0})`;
      $("rec-empty").hidden = recs.length > 0;
      $("batches-wrap").hidden = batches.length === 0;
      $("batch-empty").hidden = batches.length > 0;
      $("pager").hidden = pages <= 1;
      $("page-info").textContent = `Page ${page} of ${pages}`;
      prevBtn.disabled = page <= 1;
      nextBtn.disabled = page >= pages;
      statusEl.textContent =
        `${plural(data.total_recognitions || 0, "recognition")} and ${plural(data.total_batches || 0, "batch", "batches")} from this browser` +
        (pages > 1 ? `; page ${page} of ${pages}.` : ".");
      const url = page > 1 ? `?page=${page}` : window.location.pathname;
      window.history.replaceState(null, "", url);
    } catch (err) {
      statusEl.textContent = "";
      App.showAlert(errorEl, "Could not load the history. " + App.messageOf(err));
    }
  }

  prevBtn.addEventListener("click", () => {
    page = Math.max(1, page - 1);
    load();
  });
  nextBtn.addEventListener("click", () => {
    page += 1;
    load();
  });
  load();
})();
