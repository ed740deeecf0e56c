// jobhost-fleet console: the only script (no inline scripts: the
// Content-Security-Policy allows this file alone). Pages work without it;
// it adds live updates pushed over Server-Sent Events, copy buttons, and
// the artifact upload (with its signature) and its progress bar.
"use strict";

// Reads a fragment of a page from `url` into `target()`, one request at a
// time (a call while one runs reads once more after it); `failed` is told
// why a read failed, `after` runs after each read. A session that expired
// meanwhile sends the browser to the login page.
function reader(url, target, failed, after) {
  let busy = false;
  let again = false;
  return async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      do {
        again = false;
        const response = await fetch(url, { credentials: "same-origin", headers: { "x-console-fragment": "1" } });
        if (response.redirected && new URL(response.url).pathname === "/console/login") {
          window.location.assign(response.url);
          return;
        }
        if (!response.ok) {
          failed(response.status + " " + response.statusText);
          return;
        }
        const html = await response.text();
        const into = target();
        if (into) {
          into.innerHTML = html;
          if (after) after(into);
        }
      } while (again);
    } catch (e) {
      failed(String(e));
    } finally {
      busy = false;
    }
  };
}

// A region with data-live-url and data-events-url follows the service's
// pushed events: no polling. An "execution" event is applied to its row of
// the table (the event carries status and statusDetails), then only the
// counts are re-read from data-summary-url; the whole region is re-read
// from data-live-url (one page of executions) when a newly queued
// execution belongs on the page shown, the job ends, changes were missed,
// or the stream (re)connects.
function follow(region) {
  const liveUrl = region.dataset.liveUrl;
  const summaryUrl = region.dataset.summaryUrl;
  const status = document.getElementById("live-state");
  const failed = (why) => { if (status) status.textContent = "Live updates failed: " + why; };
  const refresh = reader(liveUrl, () => region, failed);
  const refreshSummary = summaryUrl
    ? reader(summaryUrl, () => region.querySelector("#summary"), failed)
    : refresh;
  function applyExecution(event) {
    let change = null;
    try { change = JSON.parse(event.data); } catch (e) { change = null; }
    if (!change) { refresh(); return; }
    const table = region.querySelector("#executions");
    const row = table && table.querySelector("tr[data-thing=\"" + CSS.escape(change.thingName) + "\"]");
    if (row) {
      updateRow(row, change);
      refreshSummary();
    } else if (change.status === "QUEUED" && (!table || table.dataset.more !== "true")) {
      // A newly queued execution (a continuous job's new member, a
      // rollout's next release) is listed last: on the last page, or
      // when the job had none, re-read the page, which adds its row.
      refresh();
    } else {
      // On another page: only the counts change here.
      refreshSummary();
    }
  }
  const source = new EventSource(region.dataset.eventsUrl);
  // GET /execution-changes' events: every execution change (queued,
  // IN_PROGRESS with its statusDetails, ended, deleted), the job's end, and
  // "lagged" when changes were missed (re-reading covers them).
  source.addEventListener("execution", applyExecution);
  for (const name of ["executionDeleted", "job", "lagged"]) {
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

// The badge classes of html::status on the server.
function badgeClass(status) {
  if (status === "SUCCEEDED" || status === "COMPLETED") return "ok";
  if (status === "FAILED" || status === "TIMED_OUT" || status === "REJECTED") return "bad";
  if (status === "CANCELED" || status === "REMOVED" || status === "DELETION_IN_PROGRESS") return "muted";
  if (status === "IN_PROGRESS") return "busy";
  return "wait";
}

// Applies an "execution" event to its table row, as text (never HTML).
function updateRow(row, change) {
  row.dataset.status = change.status;
  const badge = document.createElement("span");
  badge.className = "badge " + badgeClass(change.status);
  badge.textContent = change.status;
  row.querySelector("td.status").replaceChildren(badge);
  const details = row.querySelector("td.details");
  const map = change.statusDetails || {};
  const keys = Object.keys(map);
  if (keys.length === 0) {
    details.replaceChildren("—");
  } else {
    const list = document.createElement("dl");
    list.className = "facts";
    for (const key of keys) {
      const dt = document.createElement("dt");
      dt.textContent = key;
      const dd = document.createElement("dd");
      dd.textContent = typeof map[key] === "string" ? map[key] : JSON.stringify(map[key]);
      list.append(dt, dd);
    }
    details.replaceChildren(list);
  }
  if (typeof change.lastUpdatedAt === "number") {
    const when = new Date(change.lastUpdatedAt * 1000).toISOString().replace(/\.\d+Z$/, "Z");
    const time = document.createElement("time");
    time.dateTime = when;
    time.textContent = when.replace("T", " ").replace(/Z$/, "");
    row.querySelector("td.updated").replaceChildren(time);
  }
}

// The artifacts page's upload: PUTs the chosen file to the console's
// /console/artifacts/{name} (the API's PUT /artifacts/{name}) with the
// session's CSRF token in a header, showing the upload's progress, then
// the stored artifact's sha256 and placeholder. Everything the service
// returns is set as text, never as HTML.
function artifactUpload(form) {
  form.hidden = false;
  const file = form.querySelector("#artifact-file");
  const nameField = form.querySelector("#artifact-name");
  const signature = form.querySelector("#artifact-signature");
  const bar = form.querySelector("#upload-progress");
  const state = form.querySelector("#upload-state");
  const result = form.querySelector("#upload-result");
  const stored = document.getElementById("artifact-list");
  // After an upload, the stored list is read again and replaced in place.
  const refreshList = stored
    ? reader(stored.dataset.listUrl, () => stored,
      (why) => { state.textContent += " The list could not be read again: " + why; },
      (into) => copyButtons(into))
    : () => {};
  file.addEventListener("change", () => {
    if (!nameField.value && file.files[0]) nameField.value = file.files[0].name;
  });
  function fact(list, term, value, cls) {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    const code = document.createElement("code");
    code.textContent = value;
    dd.appendChild(code);
    if (cls) dd.className = cls;
    list.append(dt, dd);
    return dd;
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const chosen = file.files[0];
    if (!chosen) { state.textContent = "Choose a file first."; return; }
    const name = nameField.value.trim() || chosen.name;
    let codesign = null;
    if (signature && signature.files[0]) {
      try {
        codesign = base64(await signature.files[0].arrayBuffer());
      } catch (e) {
        state.textContent = "The signature file could not be read: " + e;
        return;
      }
    }
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", "/console/artifacts/" + encodeURIComponent(name));
    xhr.setRequestHeader("x-csrf-token", form.elements["_csrf"].value);
    xhr.setRequestHeader("content-type", "application/octet-stream");
    // The API's x-jobhost-codesign: the .sig file's bytes, base64.
    if (codesign) xhr.setRequestHeader("x-jobhost-codesign", codesign);
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      bar.max = e.total;
      bar.value = e.loaded;
      state.textContent = "Uploading: " + Math.floor((100 * e.loaded) / e.total) + " %";
    });
    xhr.addEventListener("load", () => {
      if (new URL(xhr.responseURL).pathname === "/console/login") {
        window.location.assign(xhr.responseURL);
        return;
      }
      let reply = null;
      try { reply = JSON.parse(xhr.responseText); } catch (e) { reply = null; }
      if (xhr.status < 200 || xhr.status >= 300 || !reply) {
        const why = reply && reply.message ? reply.message : xhr.statusText;
        state.textContent = "Upload failed (" + xhr.status + "): " + why;
        return;
      }
      bar.value = bar.max;
      state.textContent = "Uploaded " + reply.name + ".";
      result.replaceChildren();
      const list = document.createElement("dl");
      list.className = "facts";
      fact(list, "Name", reply.name);
      fact(list, "Size (bytes)", String(reply.size));
      fact(list, "sha256", reply.sha256, "sha256");
      if (reply.codesign && reply.codesign.keyId) fact(list, "Signed by key", reply.codesign.keyId, "signer");
      const placeholder = "${aws:iot:s3-presigned-url:" + reply.url + "}";
      const dd = fact(list, "Placeholder", placeholder, "placeholder");
      const copy = document.createElement("button");
      copy.type = "button";
      copy.className = "secondary";
      copy.dataset.copy = placeholder;
      copy.textContent = "Copy";
      copy.setAttribute("aria-label", "Copy the placeholder of " + reply.name);
      dd.append(" ", copy);
      result.appendChild(list);
      copyButtons(result);
      refreshList();
    });
    xhr.addEventListener("error", () => { state.textContent = "Upload failed: the connection broke."; });
    bar.value = 0;
    state.textContent = "Uploading…";
    xhr.send(chosen);
  });
}

// The bytes of `buffer` as base64 (a signature file is small).
function base64(buffer) {
  let text = "";
  for (const b of new Uint8Array(buffer)) text += String.fromCharCode(b);
  return btoa(text);
}

function copyButtons(root) {
  for (const button of root.querySelectorAll("button[data-copy]")) {
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
  copyButtons(document);
  const upload = document.getElementById("artifact-upload");
  if (upload) artifactUpload(upload);
});
