/* The bulk editor's grid (templates/console/catalog/grid.html) as a spreadsheet.

   The page is a plain form table that saves without this script. With it:
   - arrow keys move between cells; Enter (or F2, or a double click) edits the cell, Enter
     commits and moves down, Escape puts the cell back as it was; typing a character starts
     over with that character; Delete clears the cell;
   - Shift+arrows select a block; Ctrl+D fills it down from its top row (a single cell copies
     the cell above);
   - pasting text copied from a spreadsheet (tab-separated columns, one line per row) fills the
     cells from the focused one, rightwards and downwards;
   - changed cells are marked and counted, and only they are sent on Save (the grid's hidden
     `loaded` field tells the server what every cell showed when the grid was loaded); leaving
     with unsaved cells asks first, and Ctrl+S saves (console.js, data-unsaved-warning). */
(function () {
  "use strict";

  var ARROWS = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };

  function setup(form) {
    if (form.dataset.gridReady) return;
    form.dataset.gridReady = "1";
    var table = form.querySelector("table.bulk-grid");
    if (!table) return;
    var rows = Array.prototype.slice.call(table.tBodies[0].rows);
    var grid = rows.map(function (tr) {
      return Array.prototype.map.call(tr.cells, function (cell) {
        return cell.querySelector("[data-cell]");
      });
    });
    var count = form.querySelector("[data-grid-count]");
    var editing = null;
    var anchor = null;
    var selection = null;

    function pos(el) {
      var cell = el.closest("td");
      var tr = cell.parentNode;
      return { r: rows.indexOf(tr), c: Array.prototype.indexOf.call(tr.cells, cell) };
    }
    function at(r, c) {
      return (grid[r] && grid[r][c]) || null;
    }
    function editable(el) {
      return el && !el.readOnly && !el.disabled;
    }
    function mark(el) {
      var changed = el.value.trim() !== (el.dataset.was || "").trim();
      el.closest("td").classList.toggle("changed", changed);
      refreshCount();
    }
    function refreshCount() {
      var n = form.querySelectorAll("td.changed").length;
      count.textContent = n === 0 ? "No changes" : n + (n === 1 ? " change" : " changes") + " not saved";
      form.classList.toggle("has-changes", n > 0);
    }
    function setValue(el, text) {
      if (!editable(el)) return false;
      if (el.tagName === "SELECT") {
        var wanted = text.trim().toLowerCase();
        var option = Array.prototype.filter.call(el.options, function (o) {
          return o.value.toLowerCase() === wanted || o.text.toLowerCase() === wanted;
        })[0];
        if (!option) return false;
        el.value = option.value;
      } else {
        el.value = text;
      }
      mark(el);
      return true;
    }
    function step(el, dr, dc) {
      var p = pos(el);
      var r = p.r + dr;
      var c = p.c + dc;
      while (r >= 0 && r < grid.length && c >= 0 && c < grid[r].length) {
        if (at(r, c)) return at(r, c);
        r += dr;
        c += dc;
      }
      return null;
    }
    function focusCell(el) {
      el.focus();
      if (el.select && el.tagName === "INPUT") el.select();
    }
    function paint() {
      form.querySelectorAll("td.selected").forEach(function (cell) { cell.classList.remove("selected"); });
      if (!selection) return;
      for (var r = selection.r1; r <= selection.r2; r++) {
        for (var c = selection.c1; c <= selection.c2; c++) {
          var el = at(r, c);
          if (el) el.closest("td").classList.add("selected");
        }
      }
    }
    function select(from, to) {
      selection = from ? {
        r1: Math.min(from.r, to.r), r2: Math.max(from.r, to.r),
        c1: Math.min(from.c, to.c), c2: Math.max(from.c, to.c)
      } : null;
      paint();
    }
    function startEdit(el, replace) {
      editing = el;
      el.dataset.before = el.value;
      el.closest("td").classList.add("editing");
      if (replace && el.tagName === "INPUT") {
        el.value = "";
      } else if (el.setSelectionRange && el.tagName === "INPUT") {
        el.setSelectionRange(el.value.length, el.value.length);
      }
    }
    function commit(el) {
      if (editing !== el) return;
      editing = null;
      el.closest("td").classList.remove("editing");
      mark(el);
    }
    function cancel(el) {
      el.value = el.dataset.before || "";
      commit(el);
      focusCell(el);
    }
    function fillDown(el) {
      var sel = selection || { r1: pos(el).r, r2: pos(el).r, c1: pos(el).c, c2: pos(el).c };
      for (var c = sel.c1; c <= sel.c2; c++) {
        var source = null;
        var r = sel.r1;
        if (sel.r1 === sel.r2) {
          // One row: copy from the nearest cell above (as spreadsheets do).
          for (var up = sel.r1 - 1; up >= 0 && !source; up--) source = at(up, c);
        } else {
          for (; r <= sel.r2 && !source; r++) source = at(r, c);
        }
        if (!source) continue;
        var from = sel.r1 === sel.r2 ? sel.r1 : r;
        for (var down = from; down <= sel.r2; down++) {
          var target = at(down, c);
          if (target && target !== source) setValue(target, source.value);
        }
      }
    }
    function paste(el, text) {
      var lines = text.replace(/\r\n?/g, "\n").split("\n");
      if (lines.length > 1 && lines[lines.length - 1] === "") lines.pop();
      var start = pos(el);
      var last = start;
      lines.forEach(function (line, i) {
        line.split("\t").forEach(function (value, j) {
          var target = at(start.r + i, start.c + j);
          if (target && setValue(target, value)) last = { r: start.r + i, c: start.c + j };
        });
      });
      select(start, last);
    }

    form.addEventListener("keydown", function (event) {
      var el = event.target;
      if (!el.matches || !el.matches("[data-cell]")) return;
      if (editing === el) {
        if (event.key === "Enter") {
          event.preventDefault();
          commit(el);
          var below = step(el, 1, 0);
          focusCell(below || el);
        } else if (event.key === "Escape") {
          event.preventDefault();
          event.stopPropagation();
          cancel(el);
        } else if (event.key === "Tab") {
          commit(el);
        }
        return;
      }
      if (ARROWS[event.key]) {
        event.preventDefault();
        var d = ARROWS[event.key];
        var next = step(el, d[0], d[1]);
        if (!next) return;
        if (event.shiftKey) {
          anchor = anchor || pos(el);
          select(anchor, pos(next));
        } else {
          anchor = null;
          select(null);
        }
        focusCell(next);
      } else if (event.key === "Enter" || event.key === "F2") {
        event.preventDefault();
        if (editable(el)) startEdit(el, false);
      } else if ((event.ctrlKey || event.metaKey) && (event.key === "d" || event.key === "D")) {
        event.preventDefault();
        fillDown(el);
      } else if ((event.key === "Delete" || event.key === "Backspace") && el.tagName === "INPUT") {
        event.preventDefault();
        setValue(el, "");
      } else if (event.key === "Escape") {
        anchor = null;
        select(null);
      } else if (event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey) {
        if (el.tagName === "INPUT" && editable(el)) {
          startEdit(el, true); // the key then types into the emptied cell
        } else if (el.tagName === "INPUT") {
          event.preventDefault();
        }
      }
    });
    form.addEventListener("paste", function (event) {
      var el = event.target;
      if (!el.matches || !el.matches("[data-cell]")) return;
      var text = (event.clipboardData || window.clipboardData).getData("text");
      if (editing === el && !/[\t\n]/.test(text)) return; // an ordinary paste into one cell
      event.preventDefault();
      if (editing) commit(editing);
      paste(el, text);
    });
    form.addEventListener("dblclick", function (event) {
      var el = event.target;
      if (el.matches && el.matches("input[data-cell]") && editing !== el && editable(el)) startEdit(el, false);
    });
    form.addEventListener("mousedown", function (event) {
      var el = event.target.closest && event.target.closest("[data-cell]");
      if (!el) return;
      if (event.shiftKey && document.activeElement && document.activeElement.matches("[data-cell]")) {
        event.preventDefault();
        anchor = anchor || pos(document.activeElement);
        select(anchor, pos(el));
        el.focus();
      } else if (editing !== el) {
        anchor = null;
        select(null);
      }
    });
    form.addEventListener("focusout", function (event) {
      if (editing && event.target === editing) commit(editing);
    });
    form.addEventListener("input", function (event) {
      if (event.target.matches && event.target.matches("[data-cell]")) mark(event.target);
    });
    form.addEventListener("change", function (event) {
      if (event.target.matches && event.target.matches("[data-cell]")) mark(event.target);
    });
    form.addEventListener("submit", function () {
      if (editing) commit(editing);
      // Only the changed cells travel; `loaded` carries what every cell showed.
      form.querySelectorAll("[data-cell]").forEach(function (el) {
        if (!el.closest("td").classList.contains("changed")) el.disabled = true;
      });
    });
    window.addEventListener("pageshow", function () {
      form.querySelectorAll("[data-cell]:disabled").forEach(function (el) { el.disabled = false; });
    });
    form.querySelectorAll("[data-cell]").forEach(mark);
    refreshCount();
  }

  function init(root) {
    (root || document).querySelectorAll("form[data-bulk-grid]").forEach(setup);
  }
  document.addEventListener("DOMContentLoaded", function () { init(document); });
  document.addEventListener("htmx:afterSettle", function (event) { init(event.target); });
  if (document.readyState !== "loading") init(document);
})();
