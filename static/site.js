// The site's one script (served by the site itself). Every page works without it; it only turns the
// "Filters" link of a phone into a button that opens the filters over the page and closes them again,
// and keeps the compare button's count honest. Nothing submits a form by itself.
(function () {
  "use strict";

  function setUpPanel(toggle) {
    var panel = document.getElementById(toggle.getAttribute("data-kb-panel"));
    if (!panel) return;
    var close = panel.querySelector(".kb-panel-close");
    var heading = panel.querySelector("h2");
    toggle.setAttribute("role", "button");
    toggle.setAttribute("aria-controls", panel.id);
    toggle.setAttribute("aria-expanded", "false");
    // The open panel covers the whole screen: what is behind it is made inert, so that neither Tab nor a
    // screen reader wanders off to a page the reader cannot see.
    var behind = [];
    function setBehind(on) {
      behind.forEach(function (el) { el.inert = false; });
      behind = [];
      if (!on) return;
      for (var node = panel; node.parentElement && node !== document.body; node = node.parentElement) {
        Array.prototype.forEach.call(node.parentElement.children, function (el) {
          if (el !== node && !el.inert && el.tagName !== "SCRIPT") { el.inert = true; behind.push(el); }
        });
      }
    }
    function open() {
      panel.classList.add("is-open");
      toggle.setAttribute("aria-expanded", "true");
      setBehind(true);
      if (heading) heading.focus();
    }
    function shut() {
      panel.classList.remove("is-open");
      setBehind(false);
      toggle.setAttribute("aria-expanded", "false");
      if (window.location.hash === "#" + panel.id) {
        history.replaceState(null, "", window.location.pathname + window.location.search);
      }
      toggle.focus();
    }
    toggle.addEventListener("click", function (event) {
      event.preventDefault();
      if (panel.classList.contains("is-open")) { shut(); } else { open(); }
    });
    toggle.addEventListener("keydown", function (event) {
      if (event.key === " ") { event.preventDefault(); toggle.click(); }
    });
    if (close) {
      close.hidden = false;
      close.addEventListener("click", shut);
    }
    // on the document, not the panel: Tab past the panel's last control leaves the page itself
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && panel.classList.contains("is-open")) { shut(); }
    });
    // the panel covers the screen only on a phone: widened, the page behind is live again
    var phone = window.matchMedia("(max-width: 40rem)");
    phone.addEventListener("change", function () {
      if (!phone.matches && panel.classList.contains("is-open")) { shut(); }
    });
  }

  function setUpCompare(form) {
    // not form.id: the ticked boxes are named "id", and a form's named controls shadow its properties
    var formId = form.getAttribute("id");
    // the button, the note and the boxes sit among the results, tied to the form by form="..."
    var button = document.querySelector('[form="' + formId + '"][data-kb-compare-button]');
    var note = document.querySelector("[data-kb-compare-count]");
    var boxes = document.querySelectorAll('input[type=checkbox][form="' + formId + '"]');
    if (!button || !note) return;
    function update() {
      var n = 0;
      boxes.forEach(function (box) { if (box.checked) n += 1; });
      note.textContent = n === 0 ? "Tick 2 to 4 cases to compare them." :
        n === 1 ? "1 case ticked: tick at least one more." :
        n > 4 ? n + " cases ticked: untick " + (n - 4) + " (at most 4)." : n + " cases ticked.";
    }
    boxes.forEach(function (box) { box.addEventListener("change", update); });
    update();
  }

  function start() {
    document.querySelectorAll("[data-kb-panel]").forEach(setUpPanel);
    document.querySelectorAll("form[data-kb-compare]").forEach(setUpCompare);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
