/* Transcript Desk: keyboard shortcuts and small page behaviours.
   Hooked up by data- attributes, so `grep data-search-input` finds what uses each one:
   [data-search-input] the search box (/), [data-results] the table's results (j, k, Enter),
   [data-shortcuts-help] the help dialog (?), [data-shortcuts-open] a button that opens it,
   [data-preview-close] a button that empties #preview (Escape does too),
   [data-modal-close] a link or button that closes the confirmation in #modal (Escape does too),
   [data-login-url] on <body>: where an expired session's htmx request ends up.
   A row's own links are found by [data-action='preview'], [data-action='delete'] and
   [data-bulk-select]. */
(function () {
  "use strict";

  var selectedSid = null;
  // The element that opened the confirmation in #modal: focus goes back there when it closes.
  var modalOpener = null;
  // The row to take focus when the table comes back after a delete (the deleted row's next).
  var focusAfterRefresh = null;
  // The preview follows the selection after a short pause, so that holding j through ten rows
  // fetches (and audits) only the row the reviewer stops on.
  var followTimer = null;
  var FOLLOW_DELAY_MS = 200;

  function isTyping(target) {
    if (!target || !target.closest) return false;
    return Boolean(target.closest("input, textarea, select, [contenteditable=''], [contenteditable='true']"));
  }

  function rows() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-results] tbody tr[data-sid]"));
  }

  function select(row) {
    rows().forEach(function (r) {
      r.classList.remove("is-selected");
      r.removeAttribute("aria-selected");
    });
    if (!row) { selectedSid = null; return; }
    row.classList.add("is-selected");
    row.setAttribute("aria-selected", "true");
    if (!row.hasAttribute("tabindex")) row.setAttribute("tabindex", "-1");
    row.focus({ preventScroll: true });
    row.scrollIntoView({ block: "nearest" });
    selectedSid = row.getAttribute("data-sid");
  }

  function rowOf(sid) {
    return rows().find(function (r) { return r.getAttribute("data-sid") === sid; }) || null;
  }

  // The transcription whose preview is open beside the table, or null.
  function previewedSid() {
    var article = document.querySelector(".workspace #preview .preview-body[id^='preview-']");
    return article ? article.id.slice("preview-".length) : null;
  }

  function move(step) {
    var all = rows();
    if (!all.length) return;
    var index = all.findIndex(function (r) { return r.getAttribute("data-sid") === selectedSid; });
    var next = index < 0 ? (step > 0 ? 0 : all.length - 1) : Math.min(all.length - 1, Math.max(0, index + step));
    select(all[next]);
    followSelection();
  }

  // A reading pane follows the selection: the open preview shows the selected row.
  function followSelection() {
    window.clearTimeout(followTimer);
    var shown = previewedSid();
    if (!shown || shown === selectedSid) return;
    followTimer = window.setTimeout(function () {
      if (previewedSid() && previewedSid() !== selectedSid) previewSelected();
    }, FOLLOW_DELAY_MS);
  }

  function previewSelected() {
    var row = rowOf(selectedSid);
    if (!row) return false;
    var button = row.querySelector("[data-action='preview']");
    if (!button) return false;
    button.click();
    return true;
  }

  // # (as in mail clients): delete the checked rows, or else the selected (or previewed) one.
  function deleteSelected() {
    if (document.querySelector("[data-bulk-select]:checked")) {
      var bulk = document.querySelector("[data-bulk-submit]");
      if (bulk && !bulk.disabled) { bulk.click(); return true; }
      return false;
    }
    var row = rowOf(selectedSid);
    var link = row ? row.querySelector("[data-action='delete']") : null;
    if (!link && previewedSid()) link = document.querySelector("#preview [data-action='delete']");
    if (!link) return false;
    link.click();
    return true;
  }

  // x: check or uncheck the selected row for a bulk deletion.
  function toggleChecked() {
    var row = rowOf(selectedSid);
    var box = row ? row.querySelector("[data-bulk-select]") : null;
    if (!box) return false;
    box.checked = !box.checked;
    box.dispatchEvent(new Event("change", { bubbles: true }));
    return true;
  }

  function closePreview() {
    var preview = document.getElementById("preview");
    if (!preview || !preview.firstChild) return false;
    preview.replaceChildren();
    var row = rows().find(function (r) { return r.getAttribute("data-sid") === selectedSid; });
    if (row) row.focus({ preventScroll: true });
    return true;
  }

  // A SID's copy button: the whole SID to the clipboard, and a word that it is there.
  function copySid(button) {
    var value = button.getAttribute("data-copy");
    var done = function () {
      button.setAttribute("data-copied", "");
      say("Copied " + value);
      window.setTimeout(function () { button.removeAttribute("data-copied"); }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(value).then(done, function () { say("Could not copy: select the SID instead."); });
    } else {
      say("Could not copy here: select the SID instead.");
    }
  }

  // A short word for screen readers and eyes alike, in the page's status region.
  function say(text) {
    var box = document.getElementById("messages");
    if (!box) return;
    var p = document.createElement("p");
    p.className = "message";
    p.textContent = text;
    box.replaceChildren(p);
  }

  // The words of the search in force (the URL's, not the box's unsent ones), marked in the
  // preview's text as the table marks them: each word whole, the last as a prefix, case and
  // accents aside (the word indexes fold both).
  function withoutAccents(text) {
    return text.normalize("NFD").replace(/\p{M}/gu, "");
  }

  function searchPattern() {
    var query = withoutAccents(new URLSearchParams(window.location.search).get("q") || "");
    var words = query.match(/[\p{L}\p{N}]+/gu);
    if (!words) return null;
    // The last word is a prefix while it is being typed, not when a quote closed after it.
    var lastIsPrefix = !/"\s*$/.test(query);
    var parts = words.map(function (word, i) {
      var prefix = lastIsPrefix && i === words.length - 1;
      var end = prefix ? "" : "(?![\\p{L}\\p{N}])";
      // Letters and digits only: nothing in a word means anything to RegExp.
      return "(?<![\\p{L}\\p{N}])" + word + end;
    });
    parts.sort(function (a, b) { return b.length - a.length; });
    return new RegExp(parts.join("|"), "giu");
  }

  function markSearchWords(box) {
    var pattern = box && searchPattern();
    if (!pattern) return;
    var walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
    var nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    nodes.forEach(function (node) {
      var text = node.nodeValue;
      // Matched on the text without accents; `starts` maps each of its characters back to
      // where it came from in the text, so the marks keep the text as written.
      var folded = "";
      var starts = [];
      Array.from(text).reduce(function (at, ch) {
        var plain = withoutAccents(ch);
        for (var k = 0; k < plain.length; k++) starts.push(at);
        folded += plain;
        return at + ch.length;
      }, 0);
      starts.push(text.length);
      var parts = [];
      var last = 0;
      folded.replace(pattern, function (match, offset) {
        var from = starts[offset];
        var to = starts[offset + match.length];
        if (from > last) parts.push(document.createTextNode(text.slice(last, from)));
        var mark = document.createElement("mark");
        mark.textContent = text.slice(from, to);
        parts.push(mark);
        last = to;
        return match;
      });
      if (!parts.length) return;
      if (last < text.length) parts.push(document.createTextNode(text.slice(last)));
      node.replaceWith.apply(node, parts);
    });
  }

  // The one way a confirmation in #modal closes: Escape, or its Cancel.
  function closeModal() {
    var modal = document.getElementById("modal");
    if (!modal || !modal.firstElementChild) return false;
    modal.replaceChildren();
    returnFocus();
    return true;
  }

  function returnFocus() {
    var opener = modalOpener;
    modalOpener = null;
    if (opener && opener.isConnected) { opener.focus({ preventScroll: true }); return; }
    var row = rowOf(selectedSid);
    if (row) row.focus({ preventScroll: true });
  }

  function focusables(container) {
    return Array.prototype.slice.call(container.querySelectorAll(
      "a[href], button:not([disabled]), input:not([disabled]):not([type='hidden']), textarea:not([disabled]), select:not([disabled]), [tabindex]:not([tabindex='-1'])"
    )).filter(function (el) { return el.offsetParent !== null || el === document.activeElement; });
  }

  // Tab and Shift+Tab go round the open confirmation and never behind it (aria-modal).
  function trapTab(event) {
    var modal = document.getElementById("modal");
    if (!modal || !modal.firstElementChild) return false;
    var inside = focusables(modal);
    if (!inside.length) return false;
    var first = inside[0];
    var last = inside[inside.length - 1];
    var active = document.activeElement;
    if (!modal.contains(active)) {
      (event.shiftKey ? last : first).focus();
    } else if (event.shiftKey && active === first) {
      last.focus();
    } else if (!event.shiftKey && active === last) {
      first.focus();
    } else {
      return false;
    }
    event.preventDefault();
    return true;
  }

  function helpDialog() {
    return document.querySelector("[data-shortcuts-help]");
  }

  function toggleHelp() {
    var dialog = helpDialog();
    if (!dialog) return;
    if (dialog.open) dialog.close();
    else dialog.showModal();
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Tab" && trapTab(event)) return;
    // Escape cancels an open in-page confirmation wherever the focus is.
    if (event.key === "Escape" && closeModal()) {
      event.preventDefault();
      return;
    }
    if (event.key === "Escape" && isTyping(event.target) && event.target.matches("[data-search-input]")) {
      // Leave the box, keeping its words: a search box clears itself on Escape, which would
      // leave the table filtered by a query the box no longer shows.
      event.preventDefault();
      event.target.blur();
      return;
    }
    if (isTyping(event.target)) return;
    var dialog = helpDialog();
    if (dialog && dialog.open && event.key !== "?") return;
    if (event.key === "Escape" && closePreview()) {
      event.preventDefault();
      return;
    }

    switch (event.key) {
      case "/": {
        var search = document.querySelector("[data-search-input]");
        if (!search) return;
        event.preventDefault();
        search.focus();
        search.select();
        break;
      }
      case "j":
        if (!rows().length) return;
        event.preventDefault();
        move(1);
        break;
      case "k":
        if (!rows().length) return;
        event.preventDefault();
        move(-1);
        break;
      case "#":
      case "Delete":
        if (deleteSelected()) event.preventDefault();
        break;
      case "x":
        if (toggleChecked()) event.preventDefault();
        break;
      case "Enter":
        // Only when a row (not a link or button) has focus, so Enter keeps its usual meaning.
        if (event.target.closest && event.target.closest("a, button")) return;
        if (previewSelected()) event.preventDefault();
        break;
      case "?":
        event.preventDefault();
        toggleHelp();
        break;
      default:
        break;
    }
  });

  document.addEventListener("click", function (event) {
    if (event.target.closest && event.target.closest("[data-modal-close]")) {
      event.preventDefault();
      closeModal();
      return;
    }
    if (event.target.closest && event.target.closest("[data-preview-close]")) {
      event.preventDefault();
      closePreview();
      return;
    }
    var copy = event.target.closest && event.target.closest("[data-copy]");
    if (copy) {
      copySid(copy);
      return;
    }
    var toggle = event.target.closest && event.target.closest("[data-filters-toggle]");
    if (toggle) {
      var area = toggle.closest(".table-area");
      var open = area.classList.toggle("filters-open");
      toggle.setAttribute("aria-expanded", String(open));
      return;
    }
    var opener = event.target.closest && event.target.closest("[data-shortcuts-open]");
    if (opener) {
      event.preventDefault();
      toggleHelp();
      return;
    }
    // Clicking a row's cells selects it, so j/k continue from there.
    var row = event.target.closest && event.target.closest("[data-results] tbody tr[data-sid]");
    if (row && !event.target.closest("input")) select(row);
  });

  // A request that fills the empty #modal: remember what opened it, to go back there.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var target = event.detail && event.detail.target;
    var modal = document.getElementById("modal");
    if (target && target === modal && !modal.firstElementChild) {
      modalOpener = document.activeElement && document.activeElement !== document.body ? document.activeElement : null;
    }
  });

  // The new table after a search, a page or a refresh (htmx:load fires on the new element,
  // in the page; afterSwap of an outerHTML swap fires on the old one, already detached).
  document.addEventListener("htmx:load", function (event) {
    var elt = event.target;
    if (!elt || elt.id !== "results") return;
    var wanted = focusAfterRefresh;
    focusAfterRefresh = null;
    var again = rowOf(wanted || selectedSid);
    if (!again && wanted) again = rows()[0] || null;
    if (!again) { selectedSid = null; return; }
    var hadFocus = wanted || document.activeElement === document.body || !document.activeElement;
    if (hadFocus) {
      select(again);
    } else {
      // Keep the selection shown without taking focus from where the user is.
      again.classList.add("is-selected");
      again.setAttribute("aria-selected", "true");
    }
  });

  document.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (!target) return;
    if (target.id === "preview") {
      markSearchWords(target.querySelector("[data-preview-text]"));
      // On narrow screens the preview sits below the table: bring it into view.
      var box = target.getBoundingClientRect();
      if (box.top > window.innerHeight || box.bottom < 0) target.scrollIntoView({ block: "start" });
    }
  });

  // When the open preview's article is removed (its transcription was deleted), drop the
  // whitespace left behind so the empty panel hides (CSS :empty).
  function tidyPreview() {
    var preview = document.getElementById("preview");
    if (preview && preview.matches(".workspace > *") && !preview.firstElementChild && preview.firstChild) {
      preview.replaceChildren();
    }
  }
  document.addEventListener("htmx:afterSettle", tidyPreview);
  document.addEventListener("htmx:oobAfterSwap", tidyPreview);

  // A transcription was deleted: its preview, if open, closes; the table refreshes itself.
  // The next row (or else the previous) takes focus, now and again when the table comes back.
  document.body.addEventListener("transcription-deleted", function (event) {
    var sid = event.detail && event.detail.sid;
    if (sid && document.getElementById("preview-" + sid)) closePreview();
    modalOpener = null;
    var all = rows();
    var index = all.findIndex(function (r) { return r.getAttribute("data-sid") === sid; });
    if (index < 0) return;
    var neighbour = all[index + 1] || all[index - 1] || null;
    if (!neighbour) return;
    focusAfterRefresh = neighbour.getAttribute("data-sid");
    select(neighbour);
  });

  // An expired session answers an htmx request with the login page (after the redirect);
  // load it as a page instead of swapping it into a fragment.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var xhr = event.detail && event.detail.xhr;
    var loginPath = document.body.getAttribute("data-login-url");
    if (loginPath && xhr && xhr.responseURL && new URL(xhr.responseURL).pathname === loginPath) {
      event.detail.shouldSwap = false;
      window.location.assign(xhr.responseURL);
      return;
    }
    // An error answer that names its target (a refused request, in words) is shown there;
    // htmx would otherwise drop it and the click would seem to do nothing.
    if (xhr && xhr.status >= 400 && xhr.getResponseHeader("HX-Retarget")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Any other failed request: say so in #messages rather than nothing at all.
  function sayFailed(text) {
    var box = document.getElementById("messages");
    if (!box) return;
    var p = document.createElement("p");
    p.className = "message message-error";
    p.setAttribute("role", "alert");
    p.textContent = text;
    box.replaceChildren(p);
  }
  document.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail && event.detail.xhr;
    if (xhr && xhr.getResponseHeader("HX-Retarget")) return;
    var status = xhr ? xhr.status : 0;
    sayFailed("The server could not do that (error " + status + "). Reload the page and try again.");
  });
  document.addEventListener("htmx:sendError", function () {
    sayFailed("The server could not be reached. Check the connection and try again.");
  });
})();

/* Bulk deletion: the selection counter and "select all on this page".
   [data-bulk-select] a row's checkbox, [data-bulk-select-all] the header's checkbox (shown only
   with JS), [data-bulk-count] the counter, [data-bulk-submit] "Delete selected", disabled while
   nothing is selected. Without JS the same form still submits the checked rows. */
(function () {
  "use strict";

  function boxes() {
    return Array.prototype.slice.call(document.querySelectorAll("[data-bulk-select]"));
  }

  function refresh() {
    var all = boxes();
    var checked = all.filter(function (box) { return box.checked; }).length;
    // The selection's part of the bar shows once rows are selected (without JS the button
    // is always there and the form says what was chosen).
    var counter = document.querySelector("[data-bulk-count]");
    if (counter) {
      counter.hidden = checked === 0;
      counter.textContent = checked + " selected";
    }
    var submit = document.querySelector("[data-bulk-submit]");
    if (submit) {
      submit.disabled = checked === 0;
      submit.hidden = checked === 0;
    }
    var selectAll = document.querySelector("[data-bulk-select-all]");
    if (selectAll) {
      selectAll.hidden = all.length === 0;
      selectAll.checked = all.length > 0 && checked === all.length;
      selectAll.indeterminate = checked > 0 && checked < all.length;
    }
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (!target || !target.matches) return;
    if (target.matches("[data-bulk-select-all]")) {
      boxes().forEach(function (box) { box.checked = target.checked; });
      refresh();
    } else if (target.matches("[data-bulk-select]")) {
      refresh();
    }
  });

  // The table is swapped by searches, paging and refreshes: count again after each swap.
  document.addEventListener("htmx:afterSettle", refresh);
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", refresh);
  else refresh();
})();
