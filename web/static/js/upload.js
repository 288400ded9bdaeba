/* Upload page: collect files (pickers, folder, drag and drop), upload with progress, redirect. */
"use strict";

(function () {
  const STALL_MS = 60000; // abort an upload that makes no progress for this long
  const SERVER_MS = 300000; // after the last byte: how long the service may take to answer
  const LIST_LIMIT = 200;

  const form = document.getElementById("upload-form");
  const dropzone = document.getElementById("dropzone");
  const pickFiles = document.getElementById("pick-files");
  const pickFolder = document.getElementById("pick-folder");
  const summary = document.getElementById("summary");
  const list = document.getElementById("file-list");
  const uploadBtn = document.getElementById("upload");
  const clearBtn = document.getElementById("clear");
  const cancelBtn = document.getElementById("cancel");
  const errorEl = document.getElementById("error");
  const progressBlock = document.getElementById("progress-block");
  const progress = document.getElementById("progress");
  const progressLabel = document.getElementById("progress-label");
  const progressText = document.getElementById("progress-text");
  const progressStatus = document.getElementById("progress-status");

  /** @type {{file: File, path: string}[]} */
  let selected = [];
  let skipped = 0;
  let xhr = null;

  function isJunk(path) {
    const name = path.split("/").pop();
    return name.startsWith(".") || path.split("/").some((part) => part === "__MACOSX");
  }

  function addFiles(entries) {
    const seen = new Set(selected.map((s) => s.path + ":" + s.file.size));
    for (const { file, path } of entries) {
      if (isJunk(path)) {
        skipped += 1;
        continue;
      }
      const key = path + ":" + file.size;
      if (seen.has(key)) continue;
      seen.add(key);
      selected.push({ file, path });
    }
    selected.sort((a, b) => a.path.localeCompare(b.path, undefined, { numeric: true }));
    render();
  }

  function fromInput(input) {
    return [...input.files].map((file) => ({ file, path: file.webkitRelativePath || file.name }));
  }

  function formatBytes(n) {
    if (n < 1024) return n + " B";
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + " KB";
    return (n / 1024 / 1024).toFixed(1) + " MB";
  }

  function render() {
    list.textContent = "";
    const bytes = selected.reduce((sum, s) => sum + s.file.size, 0);
    const zips = selected.filter((s) => /\.zip$/i.test(s.path)).length;
    if (!selected.length) {
      summary.textContent = "No files selected yet.";
    } else {
      summary.textContent =
        `${selected.length} file${selected.length === 1 ? "" : "s"} selected (${formatBytes(bytes)})` +
        (zips ? `, including ${zips} zip file${zips === 1 ? "" : "s"}` : "") +
        (skipped ? `; ${skipped} hidden file${skipped === 1 ? "" : "s"} skipped` : "") +
        ".";
    }
    for (const s of selected.slice(0, LIST_LIMIT)) {
      list.appendChild(App.h("li", { text: s.path }));
    }
    if (selected.length > LIST_LIMIT) {
      list.appendChild(App.h("li", { text: `… and ${selected.length - LIST_LIMIT} more` }));
    }
    list.hidden = !selected.length;
    uploadBtn.disabled = !selected.length || !!xhr;
    clearBtn.disabled = !selected.length || !!xhr;
  }

  pickFiles.addEventListener("change", () => {
    addFiles(fromInput(pickFiles));
    pickFiles.value = "";
  });
  pickFolder.addEventListener("change", () => {
    addFiles(fromInput(pickFolder));
    pickFolder.value = "";
  });
  clearBtn.addEventListener("click", () => {
    selected = [];
    skipped = 0;
    App.showAlert(errorEl, "");
    render();
    pickFiles.focus();
  });

  // ------------------------------------------------------------------ drag and drop

  function readAllEntries(reader) {
    return new Promise((resolve, reject) => {
      const out = [];
      const next = () =>
        reader.readEntries((batch) => {
          if (!batch.length) return resolve(out);
          out.push(...batch);
          next();
        }, reject);
      next();
    });
  }

  async function walk(entry, out) {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      out.push({ file, path: entry.fullPath.replace(/^\//, "") || file.name });
    } else if (entry.isDirectory) {
      for (const child of await readAllEntries(entry.createReader())) await walk(child, out);
    }
  }

  ["dragenter", "dragover"].forEach((type) =>
    dropzone.addEventListener(type, (event) => {
      event.preventDefault();
      dropzone.classList.add("is-over");
    }),
  );
  ["dragleave", "dragend"].forEach((type) =>
    dropzone.addEventListener(type, (event) => {
      if (event.target === dropzone) dropzone.classList.remove("is-over");
    }),
  );
  dropzone.addEventListener("drop", async (event) => {
    event.preventDefault();
    dropzone.classList.remove("is-over");
    if (xhr) return;
    const dt = event.dataTransfer;
    const items = dt.items ? [...dt.items].filter((i) => i.kind === "file") : [];
    const entries = items.map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
    try {
      if (entries.length && entries.every(Boolean)) {
        const out = [];
        for (const entry of entries) await walk(entry, out);
        addFiles(out);
      } else {
        addFiles([...dt.files].map((file) => ({ file, path: file.name })));
      }
    } catch (err) {
      App.showAlert(errorEl, "Some dropped files could not be read: " + App.messageOf(err));
    }
  });
  // a drop that misses the zone must not navigate away from the page
  window.addEventListener("dragover", (event) => event.preventDefault());
  window.addEventListener("drop", (event) => event.preventDefault());

  // ------------------------------------------------------------------ upload

  function setProgress(fraction, label) {
    const pct = Math.max(0, Math.min(100, Math.round(fraction * 100)));
    progress.value = pct;
    progressText.textContent = pct + "%";
    if (label) progressLabel.textContent = label;
  }

  function uploadError(message) {
    xhr = null;
    cancelBtn.hidden = true;
    progressBlock.hidden = true;
    App.showAlert(errorEl, message);
    render();
  }

  function parseError(request) {
    let message = "";
    try {
      const body = JSON.parse(request.responseText);
      if (body && body.error && body.error.message) message = body.error.message;
    } catch (_) {
      /* not JSON */
    }
    if (request.status >= 500) {
      return (
        "The service is having trouble right now (error " +
        request.status +
        ")" +
        (message ? ": " + message : ". Please try again later.")
      );
    }
    return "The upload was refused" + (message ? ": " + message : " (error " + request.status + ").");
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!selected.length || xhr) return;
    App.showAlert(errorEl, "");
    const data = new FormData();
    for (const s of selected) data.append("files", s.file, s.path);

    const request = new XMLHttpRequest();
    xhr = request;
    let lastProgress = Date.now();
    let limit = STALL_MS;
    let lastAnnounced = -1;
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress > limit) {
        clearInterval(watchdog);
        request.abort();
        uploadError("The upload stalled: the service stopped answering. Please try again.");
      }
    }, 1000);

    request.open("POST", "/api/v1/batches");
    request.setRequestHeader("Accept", "application/json");
    request.responseType = "text";
    request.upload.onprogress = (e) => {
      lastProgress = Date.now();
      if (!e.lengthComputable) return;
      const f = e.loaded / e.total;
      setProgress(f, "Uploading… " + formatBytes(e.loaded) + " of " + formatBytes(e.total));
      const decile = Math.floor(f * 10);
      if (decile !== lastAnnounced) {
        lastAnnounced = decile;
        progressStatus.textContent = "Uploaded " + decile * 10 + "%";
      }
    };
    request.upload.onload = () => {
      lastProgress = Date.now();
      limit = SERVER_MS;
      setProgress(1, "Upload complete, creating the batch…");
      progressStatus.textContent = "Upload complete, creating the batch.";
    };
    request.onload = () => {
      clearInterval(watchdog);
      if (request.status >= 200 && request.status < 300) {
        let body = null;
        try {
          body = JSON.parse(request.responseText);
        } catch (_) {
          /* handled below */
        }
        if (body && body.id) {
          progressStatus.textContent = "Batch created. Opening its page.";
          window.location.assign("/batches/" + encodeURIComponent(body.id));
          return;
        }
        uploadError("The service accepted the upload but sent an answer that could not be read.");
        return;
      }
      uploadError(parseError(request));
    };
    request.onerror = () => {
      clearInterval(watchdog);
      uploadError("Could not reach the service. Check your connection or try again later.");
    };
    request.onabort = () => {
      clearInterval(watchdog);
      if (xhr === request) uploadError("Upload cancelled.");
    };

    progressBlock.hidden = false;
    cancelBtn.hidden = false;
    setProgress(0, "Uploading…");
    render();
    request.send(data);
  });

  cancelBtn.addEventListener("click", () => {
    if (xhr) xhr.abort();
  });

  render();
})();
