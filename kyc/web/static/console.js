/* Review console: the live queue (server-sent events) and image zoom/rotate.
   Loaded as a file: the Content-Security-Policy allows no inline script. */
(function () {
  "use strict";

  function liveQueue() {
    var region = document.getElementById("queue-region");
    var badge = document.getElementById("live");
    if (!region || !badge || !window.EventSource) { return; }
    var pending = null;
    function state(name, text) { badge.dataset.state = name; badge.textContent = text; }
    function refetch() {
      // Several events in a burst make one request.
      if (pending) { return; }
      pending = setTimeout(function () {
        pending = null;
        fetch(region.dataset.rowsUrl, { credentials: "same-origin", headers: { "Accept": "text/html" } })
          .then(function (response) {
            if (response.redirected || response.status === 401) { window.location.reload(); return null; }
            return response.ok ? response.text() : null;
          })
          .then(function (html) {
            if (html !== null && html !== undefined) {
              region.innerHTML = html;
              region.dataset.refreshed = String(Date.now());
            }
          })
          .catch(function () { state("error", "offline"); });
      }, 200);
    }
    var source = new EventSource("/events");
    var lost = false;
    source.addEventListener("open", function () {
      state("live", "live");
      // Events sent while the stream was down are lost: catch up once reconnected.
      if (lost) { lost = false; refetch(); }
    });
    source.addEventListener("review", refetch);
    source.addEventListener("error", function () {
      // EventSource reconnects by itself (retry: 2000); say so meanwhile.
      lost = true;
      state("reconnecting", "reconnecting…");
    });
  }

  function zoomRotate() {
    document.querySelectorAll("figure.shot").forEach(function (fig) {
      var img = fig.querySelector("img.zoomable");
      if (!img) { return; }
      var scale = 1, angle = 0;
      function apply() { img.style.transform = "scale(" + scale + ") rotate(" + angle + "deg)"; }
      fig.querySelectorAll("button[data-zoom]").forEach(function (b) {
        b.addEventListener("click", function () {
          scale = b.dataset.zoom === "in" ? Math.min(scale * 1.25, 6) : Math.max(scale / 1.25, 0.5);
          apply();
        });
      });
      fig.querySelectorAll("button[data-rotate]").forEach(function (b) {
        b.addEventListener("click", function () { angle = (angle + 90) % 360; apply(); });
      });
      fig.querySelectorAll("button[data-reset]").forEach(function (b) {
        b.addEventListener("click", function () { scale = 1; angle = 0; apply(); });
      });
      img.addEventListener("error", function () {
        fig.classList.add("missing");
        var frame = fig.querySelector(".frame");
        frame.classList.add("placeholder");
        frame.textContent = "Image not available";
      });
    });
  }

  function faceMeter() {
    document.querySelectorAll(".meter").forEach(function (m) {
      m.querySelectorAll("[data-from]").forEach(function (z) {
        z.style.left = z.dataset.from + "%";
        z.style.width = (z.dataset.to - z.dataset.from) + "%";
      });
      m.querySelectorAll("[data-at]").forEach(function (n) { n.style.left = n.dataset.at + "%"; });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    liveQueue();
    zoomRotate();
    faceMeter();
  });
})();
