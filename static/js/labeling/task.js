// The task page: timer, autosave (this device and the server), heartbeat, keys, submit with retry.
// Kind-specific parts live in kinds.js (window.FlywheelKinds).
(function () {
  "use strict";
  var RETRIES = 5, RETRY_MS = 3000, SYNC_MS = 2000;

  function csrf() {
    try { return JSON.parse(document.body.getAttribute("hx-headers"))["x-csrftoken"]; } catch (e) { return ""; }
  }
  function typing(el) {
    return el && (el.tagName === "TEXTAREA" || (el.tagName === "INPUT" && !/^(radio|checkbox|button|submit)$/.test(el.type)) || el.isContentEditable);
  }
  function showError(root, id, message) {
    var box = root.querySelector(id);
    if (!box) return;
    box.textContent = "";
    var p = document.createElement("p");
    p.className = "field-error"; p.setAttribute("role", "alert"); p.textContent = message;
    box.appendChild(p);
    box.scrollIntoView({ block: "nearest" });
  }
  function fmt(ms) {
    var s = Math.floor(ms / 1000), m = Math.floor(s / 60);
    return m + ":" + String(s % 60).padStart(2, "0");
  }

  function addShowAll(scope) {
    scope.querySelectorAll(".clamp").forEach(function (el) {
      if (el.dataset.clampReady) return;
      el.dataset.clampReady = "1";
      if (el.scrollHeight <= el.clientHeight + 4) { el.classList.add("clamp-fits"); return; }
      var b = document.createElement("button");
      b.type = "button"; b.className = "btn link show-all"; b.textContent = "Show all";
      b.setAttribute("aria-expanded", "false");
      b.addEventListener("click", function () {
        var open = el.classList.toggle("open");
        b.textContent = open ? "Show less" : "Show all";
        b.setAttribute("aria-expanded", open ? "true" : "false");
      });
      el.after(b);
    });
  }

  function init(root) {
    if (root.dataset.ready) return;
    root.dataset.ready = "1";
    addShowAll(root);
    var kinds = window.FlywheelKinds || {};
    var kind = kinds[root.dataset.kind];
    var taskId = root.dataset.task;
    if (!kind || !taskId) return;
    var key = "flywheel:draft:" + taskId + ":" + root.dataset.assignment;
    var form = root.querySelector("#answer-form");
    var saved = root.querySelector("[data-autosave]");
    if (kind.init) kind.init(root);

    // The newer of two copies of the draft: this browser's (localStorage, written at every
    // change) and the server's (written every few seconds; it survives another browser or
    // device, cleared storage or a crash). `at` is when its content last changed.
    var local = {}, server = null;
    try { local = JSON.parse(localStorage.getItem(key) || "{}") || {}; } catch (e) { local = {}; }
    var serverTag = root.querySelector("#server-draft");
    // A task a reviewer sent back starts from the labeler's rejected answer (source "rejected",
    // `at` 0, so an edit kept in this browser since wins).
    var serverDraft = null;
    try { serverDraft = serverTag ? JSON.parse(serverTag.textContent) || {} : null; } catch (e) { serverDraft = null; }
    server = serverDraft ? serverDraft.state : null;
    var fromServer = !!(server && server.kind && (!local.kind || (server.at || 0) > (local.at || 0)));
    var stored = fromServer ? server : local;

    // Time on task: counted while the page is visible, kept across reloads of the same lease.
    var spent = stored.spent || 0, last = Date.now();
    var timer = root.querySelector("[data-timer]");
    function tick() {
      var now = Date.now();
      if (document.visibilityState === "visible") spent += now - last;
      last = now;
      if (timer) timer.textContent = fmt(spent);
    }
    function say(message, level) {
      if (!saved) return;
      saved.textContent = message;
      saved.className = "badge" + (level ? " " + level : "");
    }
    function clockTime() { return new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); }

    // Autosave: what the labeler did, keyed by task and lease on this device.
    var latest = null, changedAt = stored.at || 0, lastContent = null;
    var serverTrouble = false;
    function content(state) { return JSON.stringify([state.kind, state.rationale || ""]); }
    function save() {
      tick();
      var state = { spent: spent, kind: kind.snapshot(root) };
      var r = root.querySelector("[data-rationale]");
      if (r) state.rationale = r.value;
      var c = content(state);
      if (c !== lastContent) { lastContent = c; changedAt = Date.now(); }
      state.at = changedAt;
      latest = state;
      try {
        localStorage.setItem(key, JSON.stringify(state));
        if (!serverTrouble) say("Draft saved " + clockTime());
      } catch (e) {
        say("Draft not saved in this browser (it refuses local storage); the server keeps a copy", "warn");
      }
      syncSoon();
    }

    // The server copy: one PUT at a time, at most every SYNC_MS, only when the content changed;
    // a network error is shown and retried, a refusal (too large, claim gone) is shown and
    // retried at the next change.
    var synced = null, refused = null, inflight = false, syncTimer = null, failures = 0;
    function putDraft(state, extra) {
      return fetch(root.dataset.draftUrl, Object.assign({
        method: "PUT", credentials: "same-origin", body: JSON.stringify(state),
        headers: { "X-CSRFToken": csrf(), "Content-Type": "application/json" },
      }, extra || {}));
    }
    function syncSoon(ms) {
      if (!syncTimer && root.dataset.draftUrl) syncTimer = setTimeout(syncNow, ms == null ? SYNC_MS : ms);
    }
    function syncNow() {
      syncTimer = null;
      if (!document.body.contains(root) || !latest || inflight) return;
      var state = latest, c = content(state);
      if (c === synced || c === refused || (c === pristine && synced === null)) return;
      inflight = true;
      putDraft(state).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (data) {
          inflight = false;
          if (response.status >= 500) throw new Error("server error " + response.status);
          if (response.ok) {
            synced = c; failures = 0; serverTrouble = false;
            say("Draft saved " + clockTime());
          } else {
            refused = c; serverTrouble = true;
            say(data.error || "The server did not keep this draft (" + response.status + "); it is saved in this browser.", "warn");
          }
          if (content(latest) !== c) syncSoon();
        });
      }).catch(function () {
        inflight = false; failures += 1; serverTrouble = true;
        say("Saved in this browser only: the server cannot be reached, retrying…", "warn");
        syncSoon(Math.min(60000, RETRY_MS * failures));
      });
    }

    if (stored.kind) {
      kind.restore(root, stored.kind);
      var r0 = root.querySelector("[data-rationale]");
      if (r0 && stored.rationale) r0.value = stored.rationale;
      lastContent = content({ kind: kind.snapshot(root), rationale: r0 ? r0.value : "" });
      if (server && server.kind && content(server) === lastContent) synced = lastContent;
      if (fromServer) save();  // keep it in this browser too
      say(!fromServer ? "Draft restored" : serverDraft.source === "rejected" ? "Your earlier answer, to rework" : "Draft restored from the server");
    }
    // Untouched work is not sent (closing a task the labeler never changed writes nothing)
    // until something was; after that a change back to the start is a change like any other.
    var r1 = root.querySelector("[data-rationale]");
    var pristine = stored.kind ? null : content({ kind: kind.snapshot(root), rationale: r1 ? r1.value : "" });
    var pending = null;
    function later() { clearTimeout(pending); pending = setTimeout(save, 300); }
    root.addEventListener("input", later);
    root.addEventListener("change", later);
    root.addEventListener("flywheel:changed", later);
    // A reload or a closed tab inside the debounce window must not lose the last keystrokes:
    // saved here, and sent to the server by a request that outlives the page.
    window.addEventListener("pagehide", function () {
      if (!document.body.contains(root)) return;
      save();
      var c = latest && content(latest);
      if (c && c !== synced && (c !== pristine || synced !== null) && root.dataset.draftUrl) {
        try { putDraft(latest, { keepalive: true }).catch(function () {}); } catch (e) { /* too big for keepalive */ }
      }
    });

    // Word count of a demonstration.
    var text = root.querySelector("[data-demo-text]"), count = root.querySelector("[data-word-count]");
    function words() {
      if (!text || !count) return;
      var n = (text.value.match(/\S+/g) || []).length;
      count.textContent = n + (n === 1 ? " word" : " words");
    }
    if (text) { text.addEventListener("input", words); words(); }

    // Write / Preview tabs (the preview is rendered by the server: hx-post on the tab).
    root.querySelectorAll("[data-tab]").forEach(function (tab) {
      tab.addEventListener("click", function () {
        var preview = tab.dataset.tab === "preview";
        root.querySelectorAll("[data-tab]").forEach(function (t) { t.setAttribute("aria-selected", t === tab ? "true" : "false"); });
        root.querySelector("#panel-write").hidden = preview;
        root.querySelector("#panel-preview").hidden = !preview;
        if (!preview && text) text.focus();
      });
    });

    // Toggle chips and buttons.
    root.addEventListener("click", function (event) {
      var b = event.target.closest("[data-flag],[data-rating],[data-choice],[data-strength],[data-collapse]");
      if (!b || !root.contains(b)) return;
      if (b.hasAttribute("data-collapse")) { collapse(b.closest(".answer-card")); return; }
      var on = b.getAttribute("aria-pressed") !== "true";
      if (!b.hasAttribute("data-flag")) {
        var attr = b.hasAttribute("data-rating") ? "[data-rating]" : b.hasAttribute("data-choice") ? "[data-choice]" : "[data-strength]";
        (b.closest(".answer-card, fieldset, [role=group]") || root).querySelectorAll(attr).forEach(function (o) { kinds.pressed(o, false); });
      }
      kinds.pressed(b, on);
      later();
    });
    function collapse(card) {
      if (!card) return;
      var closed = card.classList.toggle("collapsed");
      var b = card.querySelector("[data-collapse]");
      if (b) { b.textContent = closed ? "Expand" : "Collapse"; b.setAttribute("aria-expanded", closed ? "false" : "true"); }
    }

    // Submit: collect the answer; refuse here what is plainly incomplete; retry on network errors.
    var tries = 0;
    form.addEventListener("htmx:configRequest", function (event) {
      if (event.detail.elt !== form) return;
      tick();
      try {
        event.detail.parameters.answer = JSON.stringify(kind.collect(root));
      } catch (error) {
        event.preventDefault();
        showError(root, "#answer-error", error.message);
        return;
      }
      event.detail.parameters.time_spent_ms = String(Math.round(spent));
      root.querySelector("#answer-error").textContent = "";
    });
    form.addEventListener("htmx:sendError", function () {
      tries += 1;
      if (tries > RETRIES) {
        showError(root, "#answer-error", "The server cannot be reached. Your answer is still here and saved on this device; submit again when the connection is back.");
        tries = 0;
        return;
      }
      showError(root, "#answer-error", "Network error: retrying (" + tries + " of " + RETRIES + ")… your answer is still here.");
      setTimeout(function () { if (document.body.contains(form)) form.requestSubmit(); }, RETRY_MS);
    });
    var skipForm = root.querySelector("[data-skip-form]");
    if (skipForm) skipForm.addEventListener("htmx:configRequest", function (event) {
      tick();
      event.detail.parameters.time_spent_ms = String(Math.round(spent));
    });

    // Heartbeat: renew the lease while the page is open; say so plainly when it has expired.
    var banner = root.querySelector("[data-lease-banner]");
    // An expired claim (still accepted while a slot is free) has nothing to renew.
    var beat = root.dataset.heartbeatUrl && setInterval(function () {
      if (!document.body.contains(root)) { clearInterval(beat); return; }
      fetch(root.dataset.heartbeatUrl, { method: "POST", headers: { "X-CSRFToken": csrf() }, credentials: "same-origin" })
        .then(function (response) {
          if (response.status === 409) return response.text().then(function (message) {
            banner.querySelector("[data-lease-message]").textContent = message;
            banner.hidden = false;
            clearInterval(beat);
          });
        })
        .catch(function () { /* offline: the next beat tries again */ });
    }, parseInt(root.dataset.heartbeatMs, 10) || 60000);
    var clock = setInterval(function () {
      if (!document.body.contains(root)) { clearInterval(clock); return; }
      tick();
    }, 1000);
    setInterval(function () { if (document.body.contains(root)) save(); }, 15000);
  }

  function openDialog(id) {
    var d = document.getElementById(id);
    if (d && !d.open) { d.showModal(); var f = d.querySelector("textarea, button"); if (f) f.focus(); }
  }

  document.addEventListener("click", function (event) {
    var t = event.target.closest("[data-open-skip],[data-open-help],[data-close-dialog],[data-toggle-guidelines]");
    if (!t) return;
    if (t.hasAttribute("data-open-skip")) openDialog("skip-dialog");
    else if (t.hasAttribute("data-open-help")) openDialog("help-dialog");
    else if (t.hasAttribute("data-close-dialog")) t.closest("dialog").close();
    else toggleGuidelines();
  });
  function toggleGuidelines() {
    var work = document.getElementById("work");
    if (!work) return;
    var narrow = window.matchMedia("(max-width: 960px)").matches;
    var hidden = narrow ? !work.classList.toggle("guidelines-shown") : work.classList.toggle("guidelines-hidden");
    var b = work.querySelector("[data-toggle-guidelines]");
    if (b) b.setAttribute("aria-expanded", hidden ? "false" : "true");
  }

  document.addEventListener("keydown", function (event) {
    var root = document.getElementById("work");
    if (!root || !root.dataset.task) return;
    if (document.querySelector("dialog[open]")) return;
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      event.preventDefault();
      root.querySelector("#answer-form").requestSubmit();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var kind = (window.FlywheelKinds || {})[root.dataset.kind];
    var card = document.activeElement && document.activeElement.closest && document.activeElement.closest(".answer-card");
    var handled = true;
    if (event.key === "?") openDialog("help-dialog");
    else if (event.key === "s" || event.key === "S") openDialog("skip-dialog");
    else if (event.key === "g" || event.key === "G") toggleGuidelines();
    else if ((event.key === "c" || event.key === "C") && card) card.querySelector("[data-collapse]").click();
    else if (kind && kind.key && kind.key(root, event, card)) root.dispatchEvent(new Event("flywheel:changed"));
    else handled = false;
    if (handled) event.preventDefault();
  });

  // A refused answer: bring the server's message into view, next to the buttons.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    var t = event.detail.target;
    if (t && (t.id === "answer-error" || t.id === "skip-error")) t.scrollIntoView({ block: "nearest" });
  });

  // A submitted or skipped task's draft is no longer needed.
  document.body.addEventListener("annotationSaved", function (event) {
    var prefix = "flywheel:draft:" + event.detail.task + ":";
    Object.keys(localStorage).forEach(function (k) { if (k.indexOf(prefix) === 0) localStorage.removeItem(k); });
  });

  function boot(scope) {
    var work = (scope.id === "work" ? scope : scope.querySelector && scope.querySelector("#work"));
    if (work) init(work);
    else if (scope.querySelectorAll) addShowAll(scope);
  }
  if (window.htmx) window.htmx.onLoad(boot);
  document.addEventListener("DOMContentLoaded", function () { boot(document.body); });
})();
