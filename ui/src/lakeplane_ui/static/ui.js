// Lakeplane admin UI: optional enhancements. Every page works without this file.
(function () {
  "use strict";

  // Show <time datetime> in the browser's time zone.
  function localiseTimes(root) {
    var fmt;
    try {
      fmt = new Intl.DateTimeFormat(undefined, {
        year: "numeric", month: "2-digit", day: "2-digit",
        hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
      });
    } catch (e) { return; }
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d)) { el.title = el.textContent; el.textContent = fmt.format(d); }
    });
    var zone = document.querySelector("[data-zone]");
    if (zone) { zone.textContent = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; }
  }

  // The workspace switcher goes as soon as a workspace is chosen.
  function autosubmit() {
    document.querySelectorAll("select[data-autosubmit]").forEach(function (sel) {
      sel.addEventListener("change", function () { if (sel.value) { sel.form.submit(); } });
    });
  }

  // Forms that ask before destroying something.
  function confirmations() {
    document.querySelectorAll("form[data-confirm]").forEach(function (form) {
      form.addEventListener("submit", function (ev) {
        if (!window.confirm(form.getAttribute("data-confirm"))) { ev.preventDefault(); }
      });
    });
  }

  // Live log tail: poll the log fragment after the last line seen.
  function logTail() {
    var pre = document.querySelector("pre[data-log-url]");
    if (!pre) { return; }
    var status = document.querySelector("[data-live-status]");
    var after = pre.getAttribute("data-after") || "0";
    function tick() {
      var url = pre.getAttribute("data-log-url") + "?after=" + encodeURIComponent(after);
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (body) {
          if (!body) { return; }
          if (body.lines && body.lines.length) {
            var atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 20;
            body.lines.forEach(function (line) { pre.appendChild(document.createTextNode(line + "\n")); });
            if (atBottom) { pre.scrollTop = pre.scrollHeight; }
          }
          after = String(body.after);
          if (body.finished) {
            if (status) { status.textContent = "Run finished; reloading…"; }
            window.setTimeout(function () { window.location.reload(); }, 800);
            return;
          }
          window.setTimeout(tick, 1500);
        })
        .catch(function () { window.setTimeout(tick, 4000); });
    }
    if (status) { status.textContent = "Following the log live."; }
    window.setTimeout(tick, 1000);
  }

  // Pages showing something still moving reload themselves (no-JS users get a Refresh link).
  function autoRefresh() {
    var el = document.querySelector("[data-refresh-seconds]");
    if (!el || document.querySelector("pre[data-log-url]")) { return; }
    var seconds = parseInt(el.getAttribute("data-refresh-seconds"), 10) || 5;
    window.setTimeout(function () { window.location.reload(); }, seconds * 1000);
  }

  document.addEventListener("DOMContentLoaded", function () {
    localiseTimes(document);
    autosubmit();
    confirmations();
    logTail();
    autoRefresh();
  });
})();
