/* The console's behaviour: toasts, keyboard shortcuts, bulk selection, inline-cell keys,
   unsaved-changes warnings. No inline scripts anywhere (the CSP forbids them). */
(function () {
  "use strict";

  // -- toasts ------------------------------------------------------------------------------
  function toast(message, level) {
    var box = document.getElementById("toasts");
    if (!box || !message) return;
    var item = document.createElement("div");
    item.className = "toast toast-" + (level || "success");
    item.setAttribute("role", level === "error" ? "alert" : "status");
    item.textContent = message;
    var close = document.createElement("button");
    close.type = "button";
    close.className = "toast-close";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", function () { item.remove(); });
    item.appendChild(close);
    box.appendChild(item);
    setTimeout(function () { item.classList.add("leaving"); }, level === "error" ? 9000 : 4500);
    setTimeout(function () { item.remove(); }, level === "error" ? 9600 : 5100);
  }
  window.consoleToast = toast;

  function showFlashes() {
    var holder = document.getElementById("flashes");
    if (!holder) return;
    holder.querySelectorAll("span").forEach(function (span) {
      toast(span.textContent, span.dataset.level === "message" ? "success" : span.dataset.level);
      span.remove();
    });
  }

  document.body.addEventListener("toast", function (event) {
    var detail = event.detail || {};
    toast(detail.message || detail.value, detail.level);
  });
  document.body.addEventListener("htmx:responseError", function (event) {
    var xhr = event.detail.xhr;
    var text = "";
    try {
      var doc = new DOMParser().parseFromString(xhr.responseText, "text/html");
      var alert = doc.querySelector(".alert, .error-page p:not(.error-code)");
      text = alert ? alert.textContent.trim() : "";
    } catch (e) { /* fall through to the status text */ }
    toast(text || ("Request failed (" + xhr.status + ")."), "error");
  });
  document.body.addEventListener("htmx:sendError", function () {
    toast("Could not reach the server. Check your connection and try again.", "error");
  });

  // -- unsaved changes ---------------------------------------------------------------------
  var dirtyForms = new Set();
  function watchForms(root) {
    root.querySelectorAll("form[data-unsaved-warning]").forEach(function (form) {
      if (form.dataset.watched) return;
      form.dataset.watched = "1";
      form.addEventListener("input", function () { dirtyForms.add(form); });
      form.addEventListener("change", function () { dirtyForms.add(form); });
      form.addEventListener("submit", function () { dirtyForms.delete(form); });
    });
    dirtyForms.forEach(function (form) { if (!document.body.contains(form)) dirtyForms.delete(form); });
  }
  function hasUnsaved() {
    var any = false;
    dirtyForms.forEach(function (form) { if (document.body.contains(form)) any = true; });
    return any;
  }
  window.addEventListener("beforeunload", function (event) {
    if (hasUnsaved()) { event.preventDefault(); event.returnValue = ""; }
  });
  document.body.addEventListener("htmx:confirm", function (event) {
    // A bulk action names what it will do and to how many products before it runs.
    var elt = event.detail.elt;
    if (elt && elt.matches && elt.matches("form[data-confirm-bulk]") && event.detail.verb === "post") {
      var action = elt.querySelector("[data-bulk-action]");
      var all = elt.querySelector("input[name=select_all_matching]:checked");
      var count = elt.querySelectorAll("input[data-select-row]:checked").length;
      var what = all ? "all matching products" : count + (count === 1 ? " product" : " products");
      var label = action.options[action.selectedIndex].text;
      // A price change answers with its own confirmation (how many variants, by how much);
      // opening the bulk editor changes nothing.
      if (action.value === "change_price" || action.value === "open_grid") return;
      if (!window.confirm(label + " " + what + "?")) event.preventDefault();
      return;
    }
    // Boosted navigation away from a form with unsaved edits asks first.
    if (!hasUnsaved() || !elt || elt.closest("form[data-unsaved-warning]")) return;
    if (event.detail.verb === "get" && elt.tagName === "A") {
      if (!window.confirm("You have unsaved changes. Leave this page and lose them?")) {
        event.preventDefault();
      } else {
        dirtyForms.clear();
      }
    }
  });

  // -- bulk selection ----------------------------------------------------------------------
  function refreshBulk(form) {
    var bar = form.querySelector("[data-bulkbar]");
    if (!bar) return;
    var boxes = form.querySelectorAll("input[data-select-row]");
    var checked = form.querySelectorAll("input[data-select-row]:checked");
    var pageBox = form.querySelector("[data-select-page]");
    var allMatching = form.querySelector("[data-select-all-matching]");
    var matchingBox = allMatching && allMatching.querySelector("input");
    var action = form.querySelector("[data-bulk-action]") || { value: "" };
    if (pageBox) pageBox.checked = boxes.length > 0 && checked.length === boxes.length;
    if (allMatching) allMatching.hidden = !(pageBox && pageBox.checked);
    if (matchingBox && allMatching.hidden) matchingBox.checked = false;
    var count = matchingBox && matchingBox.checked ? "All matching" : checked.length + " selected";
    bar.querySelector("[data-selected-count]").textContent = count;
    bar.classList.toggle("active", checked.length > 0);
    form.querySelectorAll("[data-for-action]").forEach(function (el) {
      el.hidden = el.dataset.forAction.split(" ").indexOf(action.value) < 0;
    });
    var apply = form.querySelector("[data-bulk-apply]");
    apply.disabled = checked.length === 0 || !action.value;
  }
  document.addEventListener("change", function (event) {
    var form = event.target.closest("form#bulk");
    if (!form) return;
    if (event.target.matches("[data-select-page]")) {
      form.querySelectorAll("input[data-select-row]").forEach(function (box) { box.checked = event.target.checked; });
    }
    refreshBulk(form);
  });

  // -- search as you type -------------------------------------------------------------------
  // The list already follows the typed query (keyup); leaving the box fires "change" too, and a
  // second identical refresh would swap the table under the keyboard cursor. Skip that one.
  document.body.addEventListener("htmx:beforeRequest", function (event) {
    var box = event.detail.elt.querySelector && event.detail.elt.querySelector("input[data-search]");
    if (box) box.dataset.sent = box.value;
  });
  document.addEventListener("change", function (event) {
    var box = event.target;
    if (box.matches && box.matches("input[data-search]") && box.dataset.sent === box.value) {
      event.stopPropagation();
    }
  }, true);

  // -- keyboard ----------------------------------------------------------------------------
  function typing(target) {
    return target.closest("input, textarea, select, [contenteditable=true]");
  }
  function keynavRows() {
    var table = document.querySelector("#main table[data-keynav]");
    return table ? Array.prototype.slice.call(table.querySelectorAll("tbody tr")) : [];
  }
  function moveCursor(step) {
    var rows = keynavRows();
    if (!rows.length) return;
    var index = rows.findIndex(function (r) { return r.classList.contains("cursor"); });
    var next = Math.max(0, Math.min(rows.length - 1, index < 0 ? 0 : index + step));
    rows.forEach(function (r) { r.classList.remove("cursor"); r.removeAttribute("aria-selected"); });
    rows[next].classList.add("cursor");
    rows[next].setAttribute("aria-selected", "true");
    rows[next].scrollIntoView({ block: "nearest" });
  }
  function openCursor() {
    var row = document.querySelector("#main tr.cursor");
    if (!row) return false;
    return openRow(row);
  }
  // A row opens its page as its own link would: through that (boosted) link when the row has
  // one, so htmx asks for the whole page and keeps the history; else by a plain page load.
  function openRow(row) {
    var href = row.dataset.href || (row.querySelector("a[href]") || {}).href;
    if (!href) return false;
    var links = Array.prototype.slice.call(row.querySelectorAll("a[href]"));
    var link = links.filter(function (a) { return a.getAttribute("href") === href; })[0];
    if (link) link.click(); else window.location.assign(href);
    return true;
  }
  // Ctrl+K, the command palette: a combobox whose options are only ever "active" (the input
  // keeps the focus, aria-activedescendant names the option), closed by Esc with the focus
  // given back to where it was.
  var jumpReturn = null;
  function openJump() {
    var dialog = document.getElementById("jump");
    if (!dialog) return;
    if (!dialog.open) {
      jumpReturn = document.activeElement;
      dialog.showModal();
    }
    var input = dialog.querySelector("input");
    input.select();
    input.focus();
  }
  function jumpOptions(dialog) {
    return Array.prototype.slice.call(dialog.querySelectorAll("#jump-results [role=option]"));
  }
  function setActiveOption(dialog, index) {
    var input = dialog.querySelector("input");
    var options = jumpOptions(dialog);
    options.forEach(function (o, i) { o.setAttribute("aria-selected", i === index ? "true" : "false"); });
    if (index >= 0 && options[index]) {
      input.setAttribute("aria-activedescendant", options[index].id);
      options[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }
  function activeOption(dialog) {
    return dialog.querySelector('#jump-results [role=option][aria-selected="true"]');
  }
  function jumpKeys(dialog, event) {
    var options = jumpOptions(dialog);
    var current = options.indexOf(activeOption(dialog));
    if (event.key === "ArrowDown" && options.length) {
      event.preventDefault();
      setActiveOption(dialog, Math.min(options.length - 1, current + 1));
    } else if (event.key === "ArrowUp" && options.length) {
      event.preventDefault();
      setActiveOption(dialog, Math.max(0, current - 1));
    } else if (event.key === "Home" && options.length && event.ctrlKey) {
      event.preventDefault();
      setActiveOption(dialog, 0);
    } else if (event.key === "End" && options.length && event.ctrlKey) {
      event.preventDefault();
      setActiveOption(dialog, options.length - 1);
    } else if (event.key === "Enter") {
      event.preventDefault();  // the form is method=dialog: Enter alone would only close it
      var chosen = options[current] || options[0];
      var link = chosen && chosen.querySelector("a[href]");
      if (link) window.location.assign(link.href);
    }
  }
  // Delegated from the document: a boosted navigation may replace the dialog. "close" does not
  // bubble, so it is caught on the way down.
  document.addEventListener("close", function (event) {
    var dialog = event.target;
    if (!dialog || dialog.id !== "jump") return;
    var input = dialog.querySelector("input");
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    if (jumpReturn && document.contains(jumpReturn) && jumpReturn.focus) jumpReturn.focus();
    jumpReturn = null;
  }, true);
  // New results: the first one is active (Enter opens it), the list says it is open.
  document.addEventListener("htmx:afterSwap", function (event) {
    if (!event.target || event.target.id !== "jump-results") return;
    var dialog = document.getElementById("jump");
    var options = jumpOptions(dialog);
    dialog.querySelector("input").setAttribute("aria-expanded", options.length ? "true" : "false");
    setActiveOption(dialog, options.length ? 0 : -1);
  });
  document.addEventListener("keydown", function (event) {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
      event.preventDefault();
      openJump();
      return;
    }
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "s") {
      var form = event.target.closest && event.target.closest("form[data-unsaved-warning]");
      if (form) { event.preventDefault(); form.requestSubmit(); }
      return;
    }
    if (event.target.matches && event.target.matches("[data-cell-input]")) {
      if (event.key === "Escape") {
        var cell = event.target.closest("td");
        htmx.ajax("GET", event.target.dataset.cancelUrl, { target: cell, swap: "outerHTML" });
      }
      return;
    }
    if (event.target.matches && event.target.matches("td.cell.editable") && (event.key === "Enter" || event.key === "F2")) {
      event.preventDefault();
      htmx.trigger(event.target, "edit");
      return;
    }
    var dialog = document.getElementById("jump");
    if (dialog && dialog.open) {
      jumpKeys(dialog, event);
      return;
    }
    if (typing(event.target) || event.altKey || event.ctrlKey || event.metaKey) return;
    if (event.key === "/") {
      var search = document.querySelector("#main [data-search]");
      if (search) { event.preventDefault(); search.focus(); search.select(); }
    } else if (event.key === "j") {
      moveCursor(1);
    } else if (event.key === "k") {
      moveCursor(-1);
    } else if (event.key === "Enter") {
      if (openCursor()) event.preventDefault();
    } else if (event.key === "x") {
      var row = document.querySelector("#main tr.cursor input[data-select-row]");
      if (row) { row.checked = !row.checked; row.dispatchEvent(new Event("change", { bubbles: true })); }
    }
  });
  // A confirm step in a <dialog>: [data-dialog-open=ID] opens it (modal, focus on its first
  // field), [data-dialog-close] closes it; the focus then goes back to the opener.
  var dialogReturn = null;
  document.addEventListener("click", function (event) {
    var open = event.target.closest("[data-dialog-open]");
    if (open) {
      var target = document.getElementById(open.dataset.dialogOpen);
      if (!target) return;
      dialogReturn = open;
      if (target.open) target.close();
      target.showModal();
      var first = target.querySelector("input:not([type=hidden]), textarea, select, button");
      if (first) first.focus();
      return;
    }
    var close = event.target.closest("[data-dialog-close]");
    if (close && close.closest("dialog")) close.closest("dialog").close();
  });
  document.addEventListener("close", function (event) {
    if (!event.target || !event.target.matches || !event.target.matches("dialog.confirm-dialog")) return;
    if (dialogReturn && document.contains(dialogReturn)) dialogReturn.focus();
    dialogReturn = null;
  }, true);
  document.addEventListener("click", function (event) {
    var opener = event.target.closest("[data-jump-open]");
    if (opener) { openJump(); return; }
    var dialog = document.getElementById("jump");
    if (dialog && event.target === dialog) dialog.close();
    // A click anywhere on a row opens it, except on the row's own controls (a row may sit in
    // a bulk form: that is no reason to ignore it) or while text is being selected.
    var row = event.target.closest("tr[data-href]");
    var control = event.target.closest("a, button, input, select, textarea, label, [hx-get], [hx-post], [contenteditable]");
    if (row && !(control && row.contains(control)) && !String(window.getSelection() || "")) {
      openRow(row);
    }
  });
  document.addEventListener("focusin", function (event) {
    if (event.target.matches("[data-select-on-focus]")) event.target.select();
  });

  function init(root) {
    watchForms(root || document);
    showFlashes();
    document.querySelectorAll("form#bulk").forEach(refreshBulk);
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.body.addEventListener("htmx:afterSettle", function (event) { init(event.target); });
})();

/* A collection's rule rows: a category rule picks its category from a list, other rules type
   their value (both fields are always sent, so the rows stay aligned; the view reads one). */
(function () {
  "use strict";
  function showRuleValue(row) {
    var field = row.querySelector("select[name=rule_field]");
    var category = field && field.value === "category";
    var text = row.querySelector("[data-rule-text]");
    var picker = row.querySelector("[data-rule-category]");
    if (text) text.hidden = category;
    if (picker) picker.hidden = !category;
  }
  document.addEventListener("change", function (event) {
    if (!event.target.matches || !event.target.matches("select[name=rule_field]")) return;
    var row = event.target.closest(".rule-row");
    if (row) showRuleValue(row);
  });
})();

/* Warehouse screens: after a scan-form swap the cursor goes back to the field to scan next;
   a packing list prints from its button (no inline handlers: the CSP forbids them). */
(function () {
  "use strict";
  function focusScan(root) {
    var target = (root || document).querySelector("[data-scan-focus]");
    if (target && document.activeElement !== target) { target.focus(); if (target.select) target.select(); }
  }
  document.addEventListener("DOMContentLoaded", function () { focusScan(document); });
  document.body.addEventListener("htmx:afterSettle", function (event) {
    if (event.target && event.target.querySelector && event.target.querySelector("[data-scan-form]")) focusScan(event.target);
    else if (event.target && event.target.id === "scan") focusScan(event.target);
  });
  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-print]")) window.print();
  });
})();

/* Promotions builder and simulator: remove a chosen item (a chip) and tell the form it changed
   (the live summary and the simulator refresh on "change"); Enter in a picker's search box adds
   the first match instead of submitting the form, Escape clears the matches. */
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-chip-remove]");
    if (!button) return;
    var chip = button.closest("[data-chip]");
    var form = button.closest("form");
    if (chip) chip.remove();
    if (form) form.dispatchEvent(new Event("change", { bubbles: true }));
  });
  // A chip was added: the picker is ready for the next search.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.classList || !target.classList.contains("chips")) return;
    var picker = target.closest("[data-picker]");
    var box = picker && picker.querySelector("[data-picker-search]");
    var results = picker && picker.querySelector(".picker-results");
    if (results) results.innerHTML = "";
    if (box) { box.value = ""; box.focus(); }
  });
  document.addEventListener("keydown", function (event) {
    var box = event.target;
    if (!box.matches || !box.matches("[data-picker-search]")) return;
    var picker = box.closest("[data-picker]");
    var results = picker && picker.querySelector(".picker-results");
    if (event.key === "Enter") {
      event.preventDefault();
      var first = results && results.querySelector("[data-pick]");
      if (first) first.click();
    } else if (event.key === "Escape" && results) {
      results.innerHTML = "";
    }
  });
})();
