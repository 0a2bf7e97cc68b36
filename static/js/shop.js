// The shop's only script beyond htmx: the checkout hold countdown (no inline scripts: CSP).
(function () {
  "use strict";
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
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-countdown]").forEach(start);
  });
})();
