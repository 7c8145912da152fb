// The site's one script (served by the site itself). Every page works without it; it only turns the
// "Filters" link of a phone into a button that opens the filters over the page and closes them again,
// keeps the compare button's count honest and the cases ticked across pages, grows the search box to its
// text and lets Enter search from it, keeps a search's address free of empty fields, and lets a
// keyboard open the column menus of Datasette's own table pages. Nothing submits a form by itself.
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

  // The cases ticked for comparing, kept for this tab while the reader pages or searches again: ticks
  // on the first page of results were lost on the second, so two cases on different pages could not
  // be compared. sessionStorage may be refused (a private window): then only this page's ticks count.
  var TICKED = "kb-compare-ticked";
  function readTicked() {
    try { return JSON.parse(window.sessionStorage.getItem(TICKED) || "[]"); } catch (e) { return []; }
  }
  function keepTicked(ids) {
    try { window.sessionStorage.setItem(TICKED, JSON.stringify(ids)); } catch (e) { /* this page's ticks only */ }
  }

  function setUpCompare(form) {
    // not form.id: the ticked boxes are named "id", and a form's named controls shadow its properties
    var formId = form.getAttribute("id");
    // the button, the note and the boxes sit among the results, tied to the form by form="..."
    var button = document.querySelector('[form="' + formId + '"][data-kb-compare-button]');
    var note = document.querySelector("[data-kb-compare-count]");
    var bar = document.querySelector(".kb-compare-bar");
    var boxes = document.querySelectorAll('input[type=checkbox][form="' + formId + '"]');
    if (!button || !note) return;
    var here = {};
    boxes.forEach(function (box) { here[box.value] = box; });
    var ticked = readTicked().filter(function (id) { return typeof id === "string"; });
    ticked.forEach(function (id) { if (here[id]) here[id].checked = true; });
    boxes.forEach(function (box) {  // a box the browser kept ticked (back to this page) counts too
      if (box.checked && ticked.indexOf(box.value) < 0) ticked.push(box.value);
    });
    // "Untick all", for ticks the reader cannot see on this page
    var clear = document.createElement("button");
    clear.type = "button";
    clear.className = "kb-button kb-button-secondary";
    clear.textContent = "Untick all";
    clear.addEventListener("click", function () {
      ticked = [];
      boxes.forEach(function (box) { box.checked = false; });
      update();
      button.focus();
    });
    note.parentNode.insertBefore(clear, note);
    function update() {
      keepTicked(ticked);
      var n = ticked.length;
      var elsewhere = ticked.filter(function (id) { return !here[id]; }).length;
      var where = elsewhere ? " (" + elsewhere + " on " + (elsewhere === 1 ? "another page" : "other pages") + ")" : "";
      note.textContent = n === 0 ? "Tick 2 to 4 cases to compare them side by side." :
        n === 1 ? "1 case ticked" + where + ": tick at least one more." :
        n > 4 ? n + " cases ticked" + where + ": untick " + (n - 4) + " (at most 4)." : n + " cases ticked" + where + ".";
      clear.hidden = n === 0;
      // on a phone the bar stays in sight once a case is ticked, so the reader sees where to go next
      if (bar) bar.classList.toggle("is-active", n > 0);
      document.documentElement.classList.toggle("kb-comparing", n > 0);
    }
    boxes.forEach(function (box) {
      box.addEventListener("change", function () {
        ticked = ticked.filter(function (id) { return id !== box.value; });
        if (box.checked) ticked.push(box.value);
        update();
      });
      // Enter in a form's checkbox submits the form (the browser's implicit submission): a reader
      // pressing Enter to tick a case landed on "Choose at least two cases"; Enter ticks it, as Space does
      box.addEventListener("keydown", function (event) {
        if (event.key === "Enter") {
          event.preventDefault();
          box.click();
        }
      });
    });
    form.addEventListener("submit", function (event) {
      // too few or too many: the note says so where the reader is, rather than an error page
      if (ticked.length < 2 || ticked.length > 4) {
        event.preventDefault();
        update();
        note.setAttribute("tabindex", "-1");
        note.focus();
        return;
      }
      // the cases ticked on other pages go with this page's
      form.querySelectorAll("input[data-kb-ticked-elsewhere]").forEach(function (el) { el.remove(); });
      ticked.forEach(function (id) {
        if (here[id]) return;
        var input = document.createElement("input");
        input.type = "hidden";
        input.name = "id";
        input.value = id;
        input.setAttribute("data-kb-ticked-elsewhere", "");
        form.appendChild(input);
      });
    });
    update();
  }

  // Datasette's own table pages give each column heading a menu (sort, facet, hide the column) behind
  // an icon that only a mouse could open: the icon becomes a button the keyboard reaches and opens, the
  // menu takes the focus, and Escape, or Tab past its ends, closes it and gives the focus back.
  function setUpColumnMenus() {
    var menu = document.querySelector("body > .dropdown-menu, #main > .dropdown-menu");
    var icons = document.querySelectorAll(".rows-and-columns th svg.dropdown-menu-icon");
    if (!menu || !icons.length) return;
    // in the page's main part, not after its footer outside every landmark (Datasette places it by the
    // page's own coordinates, which hold there too: nothing around it is positioned)
    var main = document.getElementById("main");
    if (main && getComputedStyle(main).position === "static") main.appendChild(menu);
    var opener = null;
    function items() {
      return Array.prototype.filter.call(menu.querySelectorAll("a"), function (a) { return a.offsetParent !== null; });
    }
    function isOpen() { return menu.style.display !== "none"; }
    function close() {
      menu.style.display = "none";
      if (opener) { opener.setAttribute("aria-expanded", "false"); opener.focus(); }
    }
    // however it closes (a click elsewhere, a scroll), the button says so
    new MutationObserver(function () {
      if (opener) opener.setAttribute("aria-expanded", isOpen() ? "true" : "false");
    }).observe(menu, { attributes: true, attributeFilter: ["style"] });
    icons.forEach(function (icon) {
      var th = icon.closest("th");
      icon.setAttribute("tabindex", "0");
      icon.setAttribute("role", "button");
      icon.setAttribute("focusable", "true");
      icon.setAttribute("aria-label", "Column options: " + (th.getAttribute("data-column") || th.textContent.trim()));
      icon.setAttribute("aria-haspopup", "true");
      icon.setAttribute("aria-expanded", "false");
      icon.addEventListener("click", function () { opener = icon; }, true);
      icon.addEventListener("keydown", function (event) {
        if (event.key !== "Enter" && event.key !== " ") return;
        event.preventDefault();
        opener = icon;
        icon.dispatchEvent(new MouseEvent("click", { bubbles: true, cancelable: true }));
        var first = items()[0];
        if (first) first.focus();
      });
    });
    menu.addEventListener("keydown", function (event) {
      var all = items();
      var at = all.indexOf(document.activeElement);
      if (event.key === "Escape") {
        event.preventDefault();
        close();
      } else if (event.key === "Tab" && ((event.shiftKey && at === 0) || (!event.shiftKey && at === all.length - 1))) {
        close();  // the Tab itself then moves on from the button, as from any other control
      }
    });
  }

  // A search's address is what a reader copies to cite or share it: the empty boxes and the default way
  // of matching ("&mode=hybrid&min_savings=&max_savings=") are left out of it, as the page's own links do
  function setUpCleanAddress(form) {
    form.addEventListener("submit", function () {
      Array.prototype.forEach.call(form.elements, function (el) {
        var empty = /^(text|search|hidden)$/.test(el.type) && el.value === "" && el.name !== "q";
        var byDefault = el.name === "mode" && el.type === "radio" && el.checked && el.value === "hybrid";
        if (el.name && !el.disabled && (empty || byDefault)) {
          el.disabled = true;
          el.setAttribute("data-kb-left-out", "");
        }
      });
    });
    // back to this page from the results (the browser may keep it as it was): every field works again
    window.addEventListener("pageshow", function () {
      form.querySelectorAll("[data-kb-left-out]").forEach(function (el) { el.disabled = false; });
      document.querySelectorAll('[form="' + form.id + '"][data-kb-left-out]').forEach(function (el) { el.disabled = false; });
    });
  }

  // The search box is a text box of lines (it asks for a paragraph): one line until more is written,
  // then as many as its text takes, up to the CSS's limit; Enter searches, as in a one-line box, and
  // Shift+Enter starts a new line.
  function setUpGrowingBox(box) {
    function fit() {
      box.style.height = "auto";
      box.style.height = box.scrollHeight + (box.offsetHeight - box.clientHeight) + "px";
    }
    box.rows = 1;
    box.addEventListener("input", fit);
    window.addEventListener("resize", fit);
    box.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing && box.form) {
        event.preventDefault();
        if (box.form.requestSubmit) box.form.requestSubmit(); else box.form.submit();
      }
    });
    fit();
  }

  function start() {
    var search = document.getElementById("kb-search");
    if (search && search.tagName === "FORM") setUpCleanAddress(search);
    document.querySelectorAll("[data-kb-panel]").forEach(setUpPanel);
    document.querySelectorAll("form[data-kb-compare]").forEach(setUpCompare);
    document.querySelectorAll("textarea[data-kb-grow]").forEach(setUpGrowingBox);
    setUpColumnMenus();
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
