// Follows a queued run without a reload: polls the element's data-status-url and, when the run
// has finished, swaps in the freshly rendered #live region of the same page.
(function () {
  "use strict";
  var box = document.querySelector("[data-status-url]");
  if (!box) return;
  var url = box.getAttribute("data-status-url");
  var statusText = box.querySelector("[data-status-text]");
  var bar = box.querySelector("progress");
  var delay = 1000;

  function refreshPage() {
    fetch(window.location.href, { credentials: "same-origin" })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live");
        var current = document.getElementById("live");
        if (fresh && current) current.replaceWith(fresh);
      });
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (data) {
        if (statusText && data.status_label) statusText.textContent = data.status_label;
        if (bar && typeof data.percent === "number") {
          bar.value = data.percent;
          bar.textContent = data.percent + "%";
        }
        if (statusText && typeof data.done === "number") {
          statusText.textContent = data.done + " / " + data.total;
        }
        if (data.finished) {
          refreshPage();
          return;
        }
        delay = Math.min(delay * 1.3, 5000);
        window.setTimeout(poll, delay);
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  window.setTimeout(poll, delay);
})();
