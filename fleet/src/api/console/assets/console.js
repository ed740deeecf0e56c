// jobhost-fleet console: the only script (no inline scripts: the
// Content-Security-Policy allows this file alone). Pages work without it;
// it adds live updates pushed over Server-Sent Events, and copy buttons.
"use strict";

// A region with data-live-url and data-events-url re-reads its HTML from
// data-live-url whenever the service pushes an event for it: no polling.
function follow(region) {
  const liveUrl = region.dataset.liveUrl;
  const status = document.getElementById("live-state");
  let busy = false;
  let again = false;
  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      do {
        again = false;
        const response = await fetch(liveUrl, { credentials: "same-origin", headers: { "x-console-fragment": "1" } });
        if (response.redirected && new URL(response.url).pathname === "/console/login") {
          window.location.assign(response.url);
          return;
        }
        if (!response.ok) {
          if (status) status.textContent = "Live updates failed: " + response.status + " " + response.statusText;
          return;
        }
        region.innerHTML = await response.text();
      } while (again);
    } catch (e) {
      if (status) status.textContent = "Live updates failed: " + e;
    } finally {
      busy = false;
    }
  }
  const source = new EventSource(region.dataset.eventsUrl);
  // GET /execution-changes' events: every execution change (queued,
  // IN_PROGRESS with its statusDetails, ended, deleted), the job's end, and
  // "lagged" when changes were missed (re-reading covers them too).
  for (const name of ["execution", "executionDeleted", "job", "lagged"]) {
    source.addEventListener(name, refresh);
  }
  source.addEventListener("open", () => {
    if (status) status.textContent = "Live: updates arrive as they happen.";
    region.dataset.connected = "true";
    // Whatever changed while (re)connecting was not pushed: read it once.
    refresh();
  });
  source.addEventListener("error", () => {
    if (status) status.textContent = "Live updates interrupted; reconnecting…";
    region.dataset.connected = "false";
  });
}

function copyButtons() {
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.hidden = false;
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(button.dataset.copy);
        button.textContent = "Copied";
      } catch (e) {
        button.textContent = "Copy failed";
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  for (const region of document.querySelectorAll("[data-live-url][data-events-url]")) follow(region);
  copyButtons();
});
