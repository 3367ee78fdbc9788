// Evidence highlighting: hovering, focusing or clicking a note sentence highlights the dialogue
// turns listed in its data-turns attribute (computed server-side, see clinic/notes/evidence.py).
(function () {
  "use strict";
  function clear() {
    document.querySelectorAll(".turn.evidence").forEach(function (el) { el.classList.remove("evidence"); });
    document.querySelectorAll(".sentence.active").forEach(function (el) { el.classList.remove("active"); });
  }
  function show(sentence, scroll) {
    clear();
    sentence.classList.add("active");
    var ids = (sentence.dataset.turns || "").split(" ").filter(Boolean);
    ids.forEach(function (id, i) {
      var turn = document.getElementById("turn-" + id);
      if (!turn) return;
      turn.classList.add("evidence");
      if (scroll && i === 0) turn.scrollIntoView({ block: "nearest", behavior: "smooth" });
    });
  }
  document.addEventListener("mouseover", function (e) {
    var s = e.target.closest && e.target.closest(".sentence");
    if (s) show(s, false);
  });
  document.addEventListener("focusin", function (e) {
    var s = e.target.closest && e.target.closest(".sentence");
    if (s) show(s, true);
  });
  document.addEventListener("click", function (e) {
    var s = e.target.closest && e.target.closest(".sentence");
    if (s) show(s, true);
  });
  document.addEventListener("mouseout", function (e) {
    var s = e.target.closest && e.target.closest(".sentence");
    if (s && !s.contains(e.relatedTarget) && document.activeElement !== s) clear();
  });
})();
