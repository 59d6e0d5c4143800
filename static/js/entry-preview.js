// The admin's live preview: posts the body to the staff-only preview endpoint while the
// author types (debounced) and shows the sanitised HTML it returns. No inline script (CSP).
"use strict";
(function () {
  const DELAY_MS = 400;

  function start() {
    const preview = document.querySelector(".entry-preview[data-preview-url]");
    const body = document.getElementById("id_body");
    if (!preview || !body) {
      return;
    }
    const form = body.form;
    const summary = document.getElementById("id_summary");
    const status = document.createElement("p");
    status.className = "entry-preview-status help";
    preview.before(status);
    let timer = null;
    let sent = 0;

    async function refresh() {
      const number = ++sent;
      const data = new FormData();
      data.append("body", body.value);
      data.append("summary", summary ? summary.value : "");
      data.append("entry", preview.dataset.entry || "");
      const token = form.querySelector("input[name=csrfmiddlewaretoken]");
      try {
        const response = await fetch(preview.dataset.previewUrl, {
          method: "POST",
          body: data,
          credentials: "same-origin",
          headers: { "X-CSRFToken": token ? token.value : "" },
        });
        const result = await response.json();
        if (number !== sent) {
          return; // a newer request is on its way
        }
        if (!response.ok) {
          status.textContent = result.error || `Preview failed (${response.status}).`;
          return;
        }
        // The server's allow-listed HTML, the same as the entry page will show.
        preview.innerHTML = result.html;
        status.textContent = "Live preview (not saved yet).";
      } catch (error) {
        status.textContent = `Preview unavailable: ${error.message}`;
      }
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(refresh, DELAY_MS);
    }
    body.addEventListener("input", schedule);
    if (summary) {
      summary.addEventListener("input", schedule);
    }
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
