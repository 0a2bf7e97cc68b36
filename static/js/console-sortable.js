/* Drag-and-drop ordering for any list marked `data-sortable` (SortableJS, vendored in
   static/js/vendor/). No inline scripts: the CSP forbids them.

   Contract, for any screen:
   - The element with `data-sortable` holds the items: its element children (or those matching
     `data-sortable-items`). `data-sortable-handle=".drag-handle"` limits dragging to a handle.
   - After a drop that changed the order the list fires `end` (it bubbles), so an enclosing form
     with hx-trigger="end" posts its inputs, which are now in the new DOM order. A drop that
     changed nothing is swallowed: no request.
   - Keyboard: a button [data-sortable-move="up"|"down"] inside an item moves the item one place
     and fires `end`; Alt+ArrowUp / Alt+ArrowDown on anything focused inside an item does the
     same. At either end of the list the button is left to submit its form, so the server can
     move the item across pages. Enter in [data-sortable-position] presses the item's
     [data-sortable-go] button.
   - After the answer is swapped in, focus returns to the element (by id) that had it, or to
     the first enabled button of the moved item.
   - A 409 answer to a request from a sortable form (the list changed meanwhile) is swapped in
     as well: it carries the fresh list and says what happened.
   - SortableJS's leftover inline styles are dropped before a swap (htmx would copy them onto
     the new elements, which the CSP refuses). */
(function () {
  "use strict";

  var pendingFocus = null;

  function itemsOf(list) {
    var selector = list.dataset.sortableItems;
    return Array.prototype.filter.call(list.children, function (child) {
      return selector ? child.matches(selector) : true;
    });
  }

  function itemOf(list, element) {
    var node = element;
    while (node && node.parentElement !== list) node = node.parentElement;
    return node && itemsOf(list).indexOf(node) >= 0 ? node : null;
  }

  function fireEnd(list, oldIndex, newIndex) {
    var event = new CustomEvent("end", { bubbles: true, cancelable: true });
    event.oldIndex = oldIndex;
    event.newIndex = newIndex;
    event.item = itemsOf(list)[newIndex];
    event.from = list;
    event.to = list;
    list.dispatchEvent(event);
  }

  // Move `item` one place up or down; false at the edge (nothing moved).
  function step(list, item, direction) {
    var items = itemsOf(list);
    var index = items.indexOf(item);
    var target = direction === "up" ? index - 1 : index + 1;
    if (index < 0 || target < 0 || target >= items.length) return false;
    if (direction === "up") list.insertBefore(item, items[target]);
    else list.insertBefore(item, items[target].nextSibling);
    fireEnd(list, index, target);
    return true;
  }

  function remember(element, item) {
    pendingFocus = { id: element && element.id, item: item && item.id };
  }

  function init(root) {
    if (typeof window.Sortable === "undefined" || !root || !root.querySelectorAll) return;
    var lists = Array.prototype.slice.call(root.querySelectorAll("[data-sortable]"));
    if (root.matches && root.matches("[data-sortable]")) lists.unshift(root);
    lists.forEach(function (list) {
      if (list.sortableInstance) return;
      var options = {
        animation: 150,
        ghostClass: "sortable-ghost",
        chosenClass: "sortable-chosen",
        dragClass: "sortable-drag",
        filter: ".htmx-indicator",
        preventOnFilter: false,
      };
      if (list.dataset.sortableHandle) options.handle = list.dataset.sortableHandle;
      if (list.dataset.sortableItems) options.draggable = list.dataset.sortableItems;
      list.sortableInstance = window.Sortable.create(list, options);
      // Capture at the list: runs before htmx's listener on the list or any ancestor.
      list.addEventListener("end", function (event) {
        if (event.oldIndex === event.newIndex && event.from === event.to) {
          event.stopImmediatePropagation();
          return;
        }
        list.sortableInstance.option("disabled", true); // until the answer arrives
        list.setAttribute("aria-busy", "true");
      }, true);
    });
  }

  if (window.htmx && window.htmx.onLoad) {
    window.htmx.onLoad(init);
  } else {
    document.addEventListener("DOMContentLoaded", function () { init(document.body); });
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest && event.target.closest("[data-sortable-move]");
    if (!button || button.disabled) return;
    var list = button.closest("[data-sortable]");
    var item = list && itemOf(list, button);
    if (!item) return;
    remember(button, item);
    if (step(list, item, button.dataset.sortableMove)) {
      event.preventDefault();
    }
  });

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (!target.closest) return;
    if (event.key === "Enter" && target.matches("[data-sortable-position]")) {
      var row = target.closest("[data-sortable] > *") || target.parentElement;
      var go = row && row.querySelector("[data-sortable-go]");
      if (go) {
        event.preventDefault();
        remember(target, row);
        go.click();
      }
      return;
    }
    if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) return;
    if (target.matches("select")) return; // Alt+ArrowDown opens a select
    var list = target.closest("[data-sortable]");
    var item = list && itemOf(list, target);
    if (!item) return;
    event.preventDefault();
    var direction = event.key === "ArrowUp" ? "up" : "down";
    remember(target, item);
    if (!step(list, item, direction)) {
      // At the edge of this page: let the server move it (its button posts a one-place move).
      var button = item.querySelector('[data-sortable-move="' + direction + '"]');
      if (button && !button.disabled) button.click();
    }
  });

  document.body.addEventListener("htmx:beforeSwap", function (event) {
    // SortableJS animates with inline styles; htmx would copy them onto the new elements of
    // the same id while settling, which the CSP (style-src 'self') refuses. The old list is
    // about to go: drop them.
    var target = event.detail.target;
    if (target && target.querySelectorAll) {
      target.querySelectorAll("[data-sortable] [style], [data-sortable][style]").forEach(function (el) {
        el.removeAttribute("style");
      });
    }
    var elt = event.detail.elt;
    if (event.detail.xhr.status !== 409 || !elt || !elt.querySelector) return;
    if (elt.matches("[data-sortable]") || elt.querySelector("[data-sortable]") || elt.closest("[data-sortable]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  document.body.addEventListener("htmx:afterRequest", function (event) {
    // Nothing was swapped (a network error, a refusal): the list takes drags again.
    var elt = event.detail.elt;
    if (!elt || !elt.querySelectorAll) return;
    var lists = Array.prototype.slice.call(elt.querySelectorAll("[data-sortable]"));
    if (elt.matches("[data-sortable]")) lists.push(elt);
    lists.forEach(function (list) {
      if (list.sortableInstance && document.body.contains(list)) {
        list.sortableInstance.option("disabled", false);
        list.removeAttribute("aria-busy");
      }
    });
  });

  document.body.addEventListener("htmx:afterSettle", function () {
    if (!pendingFocus) return;
    var wanted = pendingFocus;
    pendingFocus = null;
    var element = wanted.id && document.getElementById(wanted.id);
    if (!element || element.disabled) {
      var item = wanted.item && document.getElementById(wanted.item);
      element = item && (item.querySelector("button:not([disabled])") || item.querySelector("input, a[href]"));
    }
    if (element) element.focus();
  });
})();
