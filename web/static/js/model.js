/* Model page: render whatever metadata keys exist, the confusion matrix, the preprocessing steps. */
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const errorEl = $("error");
  const h = App.h;

  const LABELS = {
    version: "Version",
    model_version: "Version",
    name: "Name",
    test_accuracy: "Test accuracy",
    accuracy: "Accuracy",
    train_accuracy: "Training accuracy",
    test_size: "Test images",
    n_test: "Test images",
    n: "Test images",
    not_one_digit: "Not read as one digit",
    kind: "Kind",
    type: "Type",
    classifier: "Classifier",
    second_opinion: "Second opinion",
    touching_reader: "Touching digits",
    created: "Created",
    created_at: "Created",
    trained_at: "Trained",
    training_data_sha256: "Training data SHA-256",
    training_data_hash: "Training data hash",
    train_data_hash: "Training data hash",
    data_hash: "Training data hash",
    dataset_sha256: "Training data hash",
    data_sha256: "Data hash",
    sklearn_version: "scikit-learn version",
    numpy_version: "NumPy version",
    opencv_version: "OpenCV version",
    python_version: "Python version",
    train_size: "Training set (images)",
    n_train: "Training set (images)",
    training_images: "Trained on (with copies)",
    redraw_copies: "Redrawn copies",
    pca_components: "PCA components",
    augment_copies: "Augmented copies",
    model_file: "Model file",
    model_bytes: "Model size (bytes)",
    model_sha256: "Model SHA-256",
    features: "Features",
    feature_dim: "Feature size",
    normalization: "Normalization",
    params: "Parameters",
    n_support_vectors: "Support vectors",
    training_seconds: "Training time (s)",
    total_seconds: "Total time (s)",
  };
  const FIRST = Object.keys(LABELS);
  const CLASSES = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

  function humanize(key) {
    if (LABELS[key]) return LABELS[key];
    const text = key.replace(/[_-]+/g, " ").trim();
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  const isNum = (v) => typeof v === "number" && Number.isFinite(v);
  const isObj = (v) => v !== null && typeof v === "object" && !Array.isArray(v);
  const isPerClassArray = (v) => Array.isArray(v) && v.length === 10 && v.every(isNum);
  const isPerClassObj = (v) => isObj(v) && CLASSES.every((c) => c in v);

  function looksLikeFraction(key, v) {
    return isNum(v) && v >= 0 && v <= 1 && /acc|precision|recall|f1|score|rate/i.test(key);
  }

  function formatValue(key, v) {
    if (v === null || v === undefined) return "–";
    if (looksLikeFraction(key, v)) return App.percent(v, 2);
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (isNum(v)) return Number.isInteger(v) ? v.toLocaleString() : String(+v.toFixed(6));
    if (typeof v === "string") {
      if (/(_at|date|time|^created|^trained|^updated)$/i.test(key) && !Number.isNaN(Date.parse(v))) {
        return App.formatDate(v);
      }
      return v;
    }
    return null; // structured: rendered elsewhere
  }

  const isMatrix = (v) => Array.isArray(v) && v.length > 1 && v.every((row) => Array.isArray(row));
  const CLASS_KEYS = ["class", "label", "digit"];

  /** Rows of per-digit numbers from [{class, precision, ...} x10], {"0": {...}} or {"0": 0.9}. */
  function perClassRows(v) {
    let rows = null;
    if (Array.isArray(v) && v.length >= 2 && v.length <= 20 && v.every(isObj)) {
      rows = v.map((r, i) => [String(CLASS_KEYS.map((k) => r[k]).find((x) => x !== undefined) ?? i), r]);
    } else if (isPerClassObj(v)) {
      rows = CLASSES.map((c) => [c, isObj(v[c]) ? v[c] : { value: v[c] }]);
    }
    if (!rows) return null;
    const cols = [];
    for (const [, r] of rows) {
      for (const [k, x] of Object.entries(r)) {
        if (!CLASS_KEYS.includes(k) && isNum(x) && !cols.includes(k)) cols.push(k);
      }
    }
    return cols.length ? { rows, cols } : null;
  }

  function fmtCell(key, x) {
    if (!isNum(x)) return "–";
    if (x >= 0 && x <= 1 && !Number.isInteger(x)) return App.percent(x, 1);
    if (/precision|recall|f1|acc/i.test(key) && (x === 0 || x === 1)) return App.percent(x, 1);
    return x.toLocaleString();
  }

  function tableNode(title, cols, rows) {
    return h(
      "div",
      { class: "table-wrap per-class" },
      h(
        "table",
        {},
        h("caption", { class: "visually-hidden", text: title }),
        h("thead", {}, h("tr", {}, h("th", { scope: "col", text: "Digit" }), ...cols.map((c) => h("th", { scope: "col", text: humanize(c) })))),
        h("tbody", {}, ...rows.map(([c, r]) => h("tr", {}, h("th", { scope: "row", text: c }), ...cols.map((k) => h("td", { class: "num", text: fmtCell(k, r[k]) }))))),
      ),
    );
  }

  /** Fill `dl` with the entries of `obj`; per-digit data becomes tables pushed onto `tables`. */
  function renderEntries(obj, dl, tables, depth, title) {
    const arrays = {}; // {"precision": [10 numbers], ...} at this level
    const keys = Object.keys(obj).sort((a, b) => {
      const ia = FIRST.indexOf(a);
      const ib = FIRST.indexOf(b);
      return (ia < 0 ? 1e3 : ia) - (ib < 0 ? 1e3 : ib);
    });
    for (const k of keys) {
      const v = obj[k];
      if (isMatrix(v)) continue; // e.g. the confusion matrix: the picture shows it
      if (isPerClassArray(v)) {
        arrays[k] = v;
        continue;
      }
      const pc = perClassRows(v);
      if (pc) {
        tables.push({ title: title ? `${title}: per digit` : humanize(k), cols: pc.cols, rows: pc.rows });
        continue;
      }
      let node;
      const text = formatValue(k, v);
      if (text !== null) {
        const hash = typeof v === "string" && /^[0-9a-f]{16,}$/i.test(v);
        node = hash ? h("code", { title: v, text: v.length > 20 ? v.slice(0, 16) + "…" : v }) : text;
      } else if (Array.isArray(v)) {
        node =
          v.length <= 20 && v.every((x) => !isObj(x) && !Array.isArray(x))
            ? v.map((x) => formatValue(k, x) ?? String(x)).join(", ")
            : h("span", { class: "help", text: `${v.length} values (see all metadata below)` });
      } else if (isObj(v) && depth < 2) {
        node = h("dl", { class: "meta" });
        renderEntries(v, node, tables, depth + 1, humanize(k));
        if (!node.children.length) continue;
      } else {
        node = h("code", { text: JSON.stringify(v) });
      }
      const nested = node instanceof Element && node.tagName === "DL";
      dl.append(h("dt", { text: humanize(k) }), h("dd", nested ? { class: "nested" } : {}, node));
    }
    const names = Object.keys(arrays);
    if (names.length) {
      const rows = CLASSES.map((c, i) => [c, Object.fromEntries(names.map((n) => [n, arrays[n][i]]))]);
      tables.push({ title: title ? `${title}: per digit` : "Per digit", cols: names, rows });
    }
  }

  async function loadMeta() {
    const status = $("meta-status");
    try {
      const info = await App.fetchJSON("/api/v1/model", {}, 15000);
      if (!isObj(info)) throw new App.ApiError("The model metadata could not be read.");
      const { active, versions, ...meta } = info; // versions are shown in their own table
      renderVersions(active, versions || []);
      const tables = [];
      renderEntries(meta, $("meta"), tables, 0, "");
      for (const t of tables) {
        $("per-class").append(h("h3", { text: t.title }), tableNode(t.title, t.cols, t.rows));
      }
      $("raw").textContent = JSON.stringify(meta, null, 2);
      $("raw-wrap").hidden = false;
      status.textContent = "";
      status.hidden = true;
    } catch (err) {
      status.textContent = "";
      App.showAlert(errorEl, "Could not load the model information. " + App.messageOf(err));
    }
  }

  function renderVersions(active, versions) {
    const serving = $("serving");
    if (active) {
      const how =
        active.source === "database"
          ? `activated ${App.formatDate(active.activated_at)}` + (active.activated_by ? ` by ${active.activated_by}` : "")
          : "chosen by the settings";
      serving.textContent = "";
      serving.append("Serving ", h("strong", { id: "active-version", text: active.version }), ` (${how}).`);
      const img = $("confusion"); // the picture belongs to the serving version
      img.src = $("confusion-link").getAttribute("href") + "?v=" + encodeURIComponent(active.version);
    }
    const body = $("versions-body");
    body.textContent = "";
    for (const v of versions) {
      body.append(
        h(
          "tr",
          { class: v.active ? "is-active" : null },
          h("th", { scope: "row" }, h("code", { text: v.version }), v.problem ? h("span", { class: "help", text: ` (${v.problem})` }) : null),
          h("td", { text: v.created ? App.formatDate(v.created) : "–" }),
          h("td", { class: "num", text: isNum(v.test_accuracy) ? App.percent(v.test_accuracy, 2) : "–" }),
          h("td", { class: "num", text: isNum(v.corrections_accuracy) ? App.percent(v.corrections_accuracy, 2) : "–" }),
          h("td", {}, v.active ? h("span", { class: "badge badge-done", text: "serving" }) : ""),
        ),
      );
    }
    if (!versions.length) body.append(h("tr", {}, h("td", { colspan: "5", class: "empty", text: "No versions found." })));
  }

  async function loadCorrections() {
    const status = $("corrections-status");
    try {
      const s = await App.fetchJSON("/api/v1/corrections/summary", {}, 15000);
      const perDigit = $("per-digit-body");
      perDigit.textContent = "";
      for (const row of s.per_digit || []) {
        perDigit.append(
          h(
            "tr",
            {},
            h("th", { scope: "row", text: String(row.label) }),
            h("td", { class: "num", text: row.count.toLocaleString() }),
            h("td", { class: "num", text: row.changed.toLocaleString() }),
          ),
        );
      }
      const pairs = $("pairs-body");
      pairs.textContent = "";
      for (const p of s.confused_pairs || []) {
        pairs.append(
          h(
            "tr",
            {},
            h("td", { class: "num", text: String(p.predicted) }),
            h("td", { class: "num", text: String(p.label) }),
            h("td", { class: "num", text: p.count.toLocaleString() }),
          ),
        );
      }
      if (!(s.confused_pairs || []).length) {
        pairs.append(h("tr", {}, h("td", { colspan: "3", class: "empty", text: "No digit corrected to another yet." })));
      }
      $("corrections").hidden = false;
      status.textContent = s.total
        ? `${s.total.toLocaleString()} digits reviewed by users; the model was wrong about ${s.changed.toLocaleString()}.`
        : "No corrections yet.";
    } catch (err) {
      status.textContent = "The corrections could not be shown. " + App.messageOf(err);
    }
  }

  function watchConfusion() {
    const img = $("confusion");
    const missing = () => {
      $("confusion-link").hidden = true;
      $("confusion-missing").hidden = false;
    };
    if (img.complete && img.naturalWidth === 0) missing();
    img.addEventListener("error", missing);
  }

  async function loadSteps() {
    const status = $("steps-status");
    const list = $("steps");
    try {
      const data = await App.fetchJSON("/model/steps.json", {}, 20000);
      const steps = data.steps || [];
      list.textContent = "";
      if (data.example) {
        steps.unshift({ name: "Input", description: "The example as submitted: a scanned form (400×200) with a digit in a printed box and two touching digits on a line.", image: data.example });
      }
      for (const s of steps) {
        list.append(
          h(
            "li",
            { class: "step" },
            h("img", { src: s.image, alt: `Result of the step “${s.name}”`, loading: "lazy" }),
            h("h3", { text: s.name.charAt(0).toUpperCase() + s.name.slice(1) }),
            h("p", { text: s.description }),
          ),
        );
      }
      status.textContent = steps.length ? "" : "No steps to show.";
      status.hidden = !!steps.length;
    } catch (err) {
      status.textContent = "The preprocessing steps could not be shown. " + App.messageOf(err);
    }
  }

  watchConfusion();
  loadMeta();
  loadCorrections();
  loadSteps();
})();
