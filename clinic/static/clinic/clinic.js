// Review page behaviour, as a static file (the Content-Security-Policy allows no inline script).
// - Evidence: hovering, focusing or clicking a note sentence highlights the dialogue turns in its
//   data-turns attribute (ranked server-side, strongest first; clinic/notes/evidence.py) and scrolls
//   ONLY the dialogue pane to the strongest one; clicking the same sentence again steps to the next.
// - Keyboard: focus moves into an opened editor and back to its Edit button after Save or Cancel,
//   and onto the sign gate when it opens.
// - Copy: the whole note or one section to the clipboard (clinicians paste into the EHR).
// - The one live region (#live-status) announces state changes only (queued, generating, ready, signed).
// - Times: the server renders them in the clinician's saved zone (<html data-time-zone>); with none saved,
//   every <time datetime> is shown in the browser's zone, and the Settings page preselects that zone.
(function () {
  "use strict";

  var pane = function () { return document.getElementById("dialogue"); };

  function clear() {
    document.querySelectorAll(".turn.evidence").forEach(function (el) { el.classList.remove("evidence", "evidence-best"); });
    document.querySelectorAll(".sentence.active").forEach(function (el) { el.classList.remove("active"); });
  }

  function scrollPaneTo(turn) {
    var box = pane();
    if (!box || !turn) return;
    var offset = turn.getBoundingClientRect().top - box.getBoundingClientRect().top;
    var top = box.scrollTop + offset - box.clientHeight / 3;
    box.scrollTo({ top: Math.max(0, top), behavior: "auto" });  // the pane only: never scrollIntoView (it scrolls the page)
  }

  function show(sentence, step) {
    clear();
    sentence.classList.add("active");
    var ids = (sentence.dataset.turns || "").split(" ").filter(Boolean);
    ids.forEach(function (id, i) {
      var turn = document.getElementById("turn-" + id);
      if (!turn) return;
      turn.classList.add("evidence");
      if (i === 0) turn.classList.add("evidence-best");
    });
    if (!ids.length) return;
    var index = step ? ((Number(sentence.dataset.step || -1) + 1) % ids.length) : 0;
    sentence.dataset.step = String(index);
    scrollPaneTo(document.getElementById("turn-" + ids[index]));
  }

  document.addEventListener("mouseover", function (e) {
    var s = e.target.closest && e.target.closest(".sentence");
    if (s && !s.classList.contains("active")) { delete s.dataset.clicked; show(s, false); }
  });
  document.addEventListener("focusin", function (e) {
    var s = e.target.closest && e.target.closest(".sentence");
    if (s) { delete s.dataset.clicked; show(s, false); }
  });
  document.addEventListener("click", function (e) {  // first click: the strongest support; again: the next one
    var s = e.target.closest && e.target.closest(".sentence");
    if (!s) return;
    show(s, Boolean(s.dataset.clicked));
    s.dataset.clicked = "1";
  });
  document.addEventListener("keydown", function (e) {
    var s = e.target.closest && e.target.closest(".sentence");
    if (s && (e.key === "Enter" || e.key === " ")) { e.preventDefault(); show(s, true); }
  });
  document.addEventListener("mouseout", function (e) {
    var s = e.target.closest && e.target.closest(".sentence");
    if (s && !s.contains(e.relatedTarget) && document.activeElement !== s) clear();
  });

  // --- copy ---------------------------------------------------------------------------------
  function sectionText(article) { return article.dataset.text || ""; }
  function noteText() {
    return Array.prototype.map.call(document.querySelectorAll("#note-area .soap-section[data-section]"), function (a) {
      return a.dataset.name.toUpperCase() + "\n" + sectionText(a);
    }).join("\n\n");
  }
  function announce(text) {
    var live = document.getElementById("live-status");
    if (live) { live.textContent = ""; window.setTimeout(function () { live.textContent = text; }, 50); }
  }
  document.addEventListener("click", function (e) {
    var button = e.target.closest && e.target.closest("button[data-copy]");
    if (!button) return;
    var article = button.closest(".soap-section");
    var text = button.dataset.copy === "note" ? noteText() : sectionText(article);
    var what = button.dataset.copy === "note" ? "Whole note" : (article ? article.dataset.name : "Section");
    var done = function () {
      button.classList.add("copied");
      button.dataset.label = button.dataset.label || button.innerHTML;
      button.textContent = "Copied";
      announce(what + " copied to the clipboard.");
      window.setTimeout(function () { button.innerHTML = button.dataset.label; button.classList.remove("copied"); }, 2000);
    };
    if (navigator.clipboard && navigator.clipboard.writeText) {
      navigator.clipboard.writeText(text).then(done, function () { announce("Copy failed: select the text and copy it."); });
    } else {
      announce("Copy is not available in this browser: select the text and copy it.");
    }
  });

  // --- local times --------------------------------------------------------------------------
  var zone = (function () { try { return Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (err) { return ""; } })();
  var saved = document.documentElement.dataset.timeZone || "";  // the user's saved zone: the server already used it
  function localTimes(root) {
    if (saved || !window.Intl) return;
    var format = new Intl.DateTimeFormat(undefined, { year: "numeric", month: "short", day: "numeric", hour: "2-digit",
      minute: "2-digit", timeZoneName: "short" });
    (root || document).querySelectorAll("time[datetime]").forEach(function (el) {
      if (el.dataset.local) return;
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) return;
      el.title = el.textContent.trim() + (zone ? " (shown in " + zone + ")" : "");
      el.textContent = format.format(when);
      el.dataset.local = "1";
    });
  }
  // Settings page, no zone saved yet: preselect the browser's zone, which Save then sends.
  function browserZoneDefault() {
    var select = document.querySelector("select[name=time_zone][data-browser-default]");
    if (!select || !zone) return;
    var known = Array.prototype.some.call(select.options, function (o) { return o.value === zone; });
    var note = document.getElementById("time-zone-browser");
    if (known) select.value = zone;
    if (note) {
      note.textContent = known ? "Preselected from this browser: " + zone + ". Save to keep it."
        : "This browser reports " + zone + ", which is not in the list; choose the nearest zone.";
      note.hidden = false;
    }
  }
  document.addEventListener("DOMContentLoaded", function () { localTimes(document); browserZoneDefault(); announceState(); });

  // --- focus and announcements after htmx swaps ----------------------------------------------
  var lastState = "";
  function announceState() {
    var area = document.getElementById("note-area");
    var state = area && area.dataset.announce;
    if (state && state !== lastState) { lastState = state; announce(state); }
  }
  var pendingFocus = null;
  document.addEventListener("htmx:beforeRequest", function (e) {
    var elt = e.detail.elt;
    var section = elt && elt.closest && elt.closest(".soap-section[data-section]");
    // Only requests the clinician made move focus; the history refresh that follows a save must not.
    if (section) pendingFocus = { section: section.dataset.section };
    if (elt && elt.id === "sign-button") pendingFocus = { gate: true };
  });
  document.addEventListener("htmx:afterSettle", function (e) {
    localTimes(document);
    announceState();
    if (!pendingFocus || (e.detail.elt && e.detail.elt.id === "history")) return;
    var target = null;
    if (pendingFocus.gate) {
      target = document.getElementById("sign-gate-title");
    } else {
      var article = document.getElementById("section-" + pendingFocus.section);
      if (article) target = article.querySelector("textarea") || article.querySelector(".edit-button");
    }
    pendingFocus = null;
    if (target) target.focus();
  });
})();
