/* Search merchandising (console): the query rule form's product lists. Up/down buttons move a
   pinned product (keyboard focus stays on the moved button), the form posts the list in its
   DOM order, a product chosen twice keeps its first place. Drag and drop comes from
   console-sortable.js (`data-sortable`); this form saves with its Save button rather than on
   each drop, so the list takes the next drag at once. No inline scripts (CSP). */
(function () {
  "use strict";

  function changed(element) {
    var form = element.closest("form");
    if (form) form.dispatchEvent(new Event("change", { bubbles: true }));
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-move]");
    if (!button) return;
    var item = button.closest("[data-chip]");
    if (!item) return;
    var list = item.parentElement;
    if (button.dataset.move === "up" && item.previousElementSibling) {
      list.insertBefore(item, item.previousElementSibling);
    } else if (button.dataset.move === "down" && item.nextElementSibling) {
      list.insertBefore(item.nextElementSibling, item);
    } else {
      return;
    }
    button.focus();
    changed(list);
  });

  // A drop (or Alt+Arrow) reordered a rule's list: nothing is posted until Save, so the list
  // stays draggable and the form counts as changed.
  document.addEventListener("end", function (event) {
    var list = event.target;
    if (!list || !list.classList || !list.classList.contains("rule-products")) return;
    if (list.sortableInstance) list.sortableInstance.option("disabled", false);
    list.removeAttribute("aria-busy");
    changed(list);
  });

  // A product added to a list it is already in: drop the new copy, keep the first.
  document.body.addEventListener("htmx:afterSwap", function (event) {
    var list = event.detail.target;
    if (!list || !list.classList || !list.classList.contains("rule-products")) return;
    var seen = {};
    Array.prototype.slice.call(list.querySelectorAll("[data-chip]")).forEach(function (item) {
      var id = item.dataset.productId;
      if (seen[id]) item.remove();
      seen[id] = true;
    });
    changed(list);
  });
})();
