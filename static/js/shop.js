// The shop's only script beyond htmx (no inline scripts: CSP): the checkout hold countdown,
// the search box's suggestions as an accessible combobox, the search analytics beacon, and
// the checkout line's board.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // -- search filters on a phone ----------------------------------------------------------------
  // Folded behind a "Filters" button (CSS shows it on narrow screens); opened, they stay open
  // across the swaps that each filter change brings.
  var filtersOpen = false;
  function showFilters() {
    document.querySelectorAll("[data-filters-toggle]").forEach(function (button) {
      var form = document.getElementById(button.getAttribute("aria-controls"));
      button.setAttribute("aria-expanded", String(filtersOpen));
      if (form) form.classList.toggle("open", filtersOpen);
    });
  }
  document.addEventListener("click", function (event) {
    if (!event.target.closest || !event.target.closest("[data-filters-toggle]")) return;
    filtersOpen = !filtersOpen;
    showFilters();
  });
  document.addEventListener("htmx:afterSwap", showFilters);

  // -- checkout hold countdown ------------------------------------------------------------------
  function start(el) {
    var left = parseInt(el.getAttribute("data-countdown"), 10);
    if (!(left > 0)) return;
    var ends = Date.now() + left * 1000;
    var timer = setInterval(function () {
      var s = Math.max(0, Math.round((ends - Date.now()) / 1000));
      if (s === 0) {
        clearInterval(timer);
        var note = el.closest(".hold");
        if (note) note.textContent = el.getAttribute("data-expired");
        return;
      }
      el.textContent = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
    }, 1000);
  }

  // -- search analytics beacon ------------------------------------------------------------------
  // Results pages are publicly cached, so the server cannot count them: the browser reports a
  // search (page 1 of a results page, once per query and page load) and a click (a result or a
  // suggested product opened) to POST /search/events. The visitor is a random id kept in
  // localStorage (no cookie, so pages stay shared); the server stores only a keyed hash of it.
  var VISITOR_KEY = "shop.search-visitor";
  var VISITOR_FORMAT = /^[A-Za-z0-9_-]{8,64}$/;
  var recorded = {};

  function visitor() {
    try {
      var id = window.localStorage.getItem(VISITOR_KEY);
      if (!id || !VISITOR_FORMAT.test(id)) {
        var bytes = new Uint8Array(16);
        window.crypto.getRandomValues(bytes);
        id = Array.prototype.map
          .call(bytes, function (b) { return b.toString(16).padStart(2, "0"); })
          .join("");
        window.localStorage.setItem(VISITOR_KEY, id);
      }
      return id;
    } catch (e) {
      return ""; // storage refused (private mode, settings): count without a visitor
    }
  }

  function eventsUrl() {
    var form = document.querySelector("[data-search-events]");
    return form ? form.getAttribute("data-search-events") : "";
  }

  function send(fields) {
    var url = eventsUrl();
    if (!url || !navigator.sendBeacon || !fields.q) return false;
    var body = new URLSearchParams(fields);
    var id = visitor();
    if (id) body.set("visitor", id);
    try {
      return navigator.sendBeacon(url, body);
    } catch (e) {
      return false;
    }
  }

  function recordSearches(root) {
    if (!root || !root.querySelectorAll) return;
    var found = root.matches && root.matches("[data-search-record]") ? [root] : [];
    found = found.concat(Array.prototype.slice.call(root.querySelectorAll("[data-search-record]")));
    found.forEach(function (el) {
      var q = el.getAttribute("data-search-query") || "";
      if (!q || recorded[q]) return;
      recorded[q] = true;
      send({ kind: "search", q: q, results: el.getAttribute("data-search-results") || "0" });
    });
  }

  function recordClick(link) {
    var scope = link.closest("[data-search-query], [data-suggest-query]");
    if (!scope) return;
    send({
      kind: "click",
      q: scope.getAttribute("data-search-query") || scope.getAttribute("data-suggest-query") || "",
      product: link.getAttribute("data-product-id") || "",
      position: link.getAttribute("data-position") || "",
    });
  }

  function onOpen(event) {
    if (event.type === "auxclick" && event.button !== 1) return; // middle click opens a tab
    var link = event.target.closest && event.target.closest("a[data-search-click]");
    if (link) recordClick(link);
  }

  // -- search box suggestions: a combobox over a listbox (WAI-ARIA 1.2) -------------------------
  // htmx fetches the suggestions (hx-get, debounced, stale requests replaced); this adds the
  // keyboard: ArrowDown/ArrowUp move through the options, Enter opens the active one (or
  // submits the search when none is active), Escape closes the list.
  var MIN_CHARS = 2; // the server answers nothing below this too (commerce.search.suggest)

  function combobox(input) {
    var box = document.getElementById(input.getAttribute("aria-controls"));
    var status = document.getElementById(box.id + "-status");
    var combo = input.closest(".search-combo") || box.parentNode;
    var active = -1;
    var dismissed = false;

    function options() {
      return Array.prototype.slice.call(box.querySelectorAll('[role="option"]'));
    }
    function setActive(index) {
      var list = options();
      active = index >= 0 && index < list.length ? index : -1;
      list.forEach(function (el, i) {
        el.setAttribute("aria-selected", i === active ? "true" : "false");
        el.classList.toggle("is-active", i === active);
      });
      if (active >= 0) {
        input.setAttribute("aria-activedescendant", list[active].id);
        list[active].scrollIntoView({ block: "nearest" });
      } else {
        input.removeAttribute("aria-activedescendant");
      }
    }
    function show(open) {
      var visible = open && options().length > 0;
      box.hidden = !visible;
      input.setAttribute("aria-expanded", visible ? "true" : "false");
      if (!visible) setActive(-1);
    }
    function clear() {
      box.innerHTML = "";
      show(false);
      if (status) status.textContent = "";
    }
    function tooShort() {
      return input.value.trim().length < MIN_CHARS;
    }

    input.addEventListener("input", function () {
      dismissed = false;
      if (tooShort()) clear();
    });
    // Under MIN_CHARS characters no request is sent at all.
    input.addEventListener("htmx:configRequest", function (event) {
      if (tooShort()) {
        event.preventDefault();
        clear();
      }
    });
    document.body.addEventListener("htmx:beforeSwap", function (event) {
      if (event.detail.target === box && tooShort()) event.detail.shouldSwap = false;
    });
    document.body.addEventListener("htmx:afterSwap", function (event) {
      if (event.detail.target !== box) return;
      setActive(-1);
      show(!dismissed && document.activeElement === input);
      if (status) {
        var n = options().length - 1; // the "See all results" option is always there
        status.textContent = n > 0 ? n + " suggestions, use the arrow keys to choose" : "";
      }
    });

    input.addEventListener("keydown", function (event) {
      var list = options();
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        if (!list.length) {
          if (!tooShort() && window.htmx) window.htmx.trigger(input, "search");
          return;
        }
        if (box.hidden) {
          dismissed = false;
          show(true);
          setActive(event.key === "ArrowDown" ? 0 : list.length - 1);
          return;
        }
        var next = event.key === "ArrowDown" ? active + 1 : active - 1;
        if (next >= list.length) next = 0;
        if (next < 0) next = list.length - 1;
        setActive(next);
      } else if (event.key === "Enter") {
        if (!box.hidden && active >= 0 && list[active]) {
          event.preventDefault();
          list[active].click(); // the click beacon runs, then the browser follows the link
        }
      } else if (event.key === "Escape") {
        if (!box.hidden) {
          event.preventDefault(); // closing the list must not also clear what was typed
          dismissed = true;
          show(false);
        }
      } else if (event.key === "Tab") {
        show(false);
      }
    });
    // Pressing on an option must not take the focus from the box first: that would close the
    // list before the click lands (browsers that do not focus links on click, like Safari).
    box.addEventListener("mousedown", function (event) {
      event.preventDefault();
    });
    combo.addEventListener("focusout", function (event) {
      if (!event.relatedTarget || !combo.contains(event.relatedTarget)) show(false);
    });
    box.addEventListener("mousemove", function (event) {
      var option = event.target.closest('[role="option"]');
      if (option) setActive(options().indexOf(option));
    });
  }

  // -- the checkout line's board ---------------------------------------------------------------
  // Behind an edge cache, a waiting page far back in the line (data-board) reads the line's
  // board, the same for every shopper and answered by the edge, instead of asking the shop for
  // its turn; when the board says the turn is near (its place number within `near`) the box
  // asks at once (htmx "line-moved"), and when an item is sold out the page says so itself;
  // it also asks by itself every keepalive to keep the place. Without script the page reloads
  // itself instead.
  var boardTimer = null;
  var every = 1000;
  var GIVE_UP_SPREAD_MS = 10000;
  function watchBoard() {
    var box = document.querySelector('[data-queue="waiting"][data-board]');
    if (!box || box.hasAttribute("data-asked") || !window.fetch) return;
    fetch(box.getAttribute("data-board"), { credentials: "omit", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (board) {
        if (!board || !box.isConnected || box.hasAttribute("data-asked")) return;
        var seq = parseInt(box.getAttribute("data-seq"), 10);
        if (board.sold_out && board.sold_out.length) {
          showSoldOut(box, board.sold_out);
        } else if (board.near >= seq) {
          box.setAttribute("data-asked", "");
          if (window.htmx) window.htmx.trigger(box, "line-moved");
        }
      })
      .catch(function () {}); // the box's own keepalive ask still comes
  }
  // Sold out reaches the whole line in the same second: the page says so from the board
  // (the shop's own words, kept in a <template>), rather than thousands of pages asking the
  // shop at once and waiting for its answers.
  function showSoldOut(box, names) {
    var template = box.querySelector("template[data-sold-out-box]");
    if (!template) {
      box.setAttribute("data-asked", "");
      if (window.htmx) window.htmx.trigger(box, "line-moved");
      return;
    }
    var shown = template.content.firstElementChild.cloneNode(true);
    var text = shown.querySelector("[data-sold-out-text]");
    if (text) {
      text.textContent =
        "Sorry, " + names.join(", ") + (names.length === 1 ? " is" : " are") + " sold out.";
    }
    var ask = box.getAttribute("hx-get");
    box.replaceWith(shown);
    document.title = "Sold out" + document.title.replace(/^[^·]*/, " ");
    // Give the place up (its ask answers "sold out" and frees it), within the next seconds:
    // the whole line does this at once, and nobody waits for these answers.
    if (ask) {
      setTimeout(function () {
        fetch(ask, { credentials: "same-origin", headers: { "HX-Request": "true" } }).catch(
          function () {}
        );
      }, Math.random() * GIVE_UP_SPREAD_MS);
    }
  }

  // The waiting page is the answer to "Check out" (a POST): its address becomes the page's
  // own, so a reload asks for the turn again rather than posting the form a second time.
  function ownAddress() {
    var box = document.querySelector('[data-queue="waiting"][hx-get]');
    if (!box || !window.history || !history.replaceState) return;
    var own = box.getAttribute("hx-get");
    if (own && location.pathname + location.search !== own) history.replaceState(null, "", own);
  }

  function startBoard() {
    var box = document.querySelector('[data-queue="waiting"][data-board]');
    if (boardTimer || !box) return;
    every = parseInt(box.getAttribute("data-board-ms"), 10) || 1000;
    boardTimer = setInterval(watchBoard, every);
  }

  // -- filter forms -----------------------------------------------------------------------------
  // A filter form refreshes its results on "change", and the refresh replaces the form. For a
  // price typed in two boxes that would swap the second box away while it is being typed in:
  // those boxes (data-apply-on-submit) apply with Enter or the Apply button instead.
  document.addEventListener(
    "change",
    function (event) {
      if (event.target.matches && event.target.matches("[data-apply-on-submit]")) {
        event.stopPropagation();
      }
    },
    true
  );

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-countdown]").forEach(start);
    document.querySelectorAll('input[role="combobox"][aria-controls]').forEach(combobox);
    recordSearches(document);
    ownAddress();
    startBoard();
    document.addEventListener("click", onOpen, true);
    document.addEventListener("auxclick", onOpen, true);
    document.body.addEventListener("htmx:load", function (event) {
      recordSearches(event.target);
      startBoard();
    });
  });
})();
