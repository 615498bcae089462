// The wallet's live preview (issue 19): on every change of the rules form, post the rules to
// the wallet's own server-rendered preview (POST /preview) and show the preview area of its
// answer (or its error) in place. The value, the file and the code are never sent with it.
// Without this script the form's Preview button does the same.
(function () {
  "use strict";
  var form = document.querySelector("form[action='/save']");
  var area = document.getElementById("preview-area");
  if (!form || !area || !window.fetch || !window.DOMParser || !window.URLSearchParams) {
    return;
  }
  var timer = null;
  var latest = 0;
  var skip = { value: true, value_file: true, code: true };

  function show(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    var fresh = doc.getElementById("preview-area");
    var alert = doc.querySelector("[role=alert]");
    while (area.firstChild) {
      area.removeChild(area.firstChild);
    }
    if (fresh && fresh.firstChild) {
      while (fresh.firstChild) {
        area.appendChild(document.adoptNode(fresh.firstChild));
      }
    } else if (alert) {
      var p = document.createElement("p");
      p.className = "error";
      p.textContent = alert.textContent;
      area.appendChild(p);
    }
  }

  function refresh() {
    var data = new URLSearchParams();
    new FormData(form).forEach(function (v, k) {
      if (typeof v === "string" && !skip[k]) {
        data.append(k, v);
      }
    });
    var mine = ++latest;
    fetch("/preview", {
      method: "POST",
      body: data,
      credentials: "same-origin",
      headers: { "Content-Type": "application/x-www-form-urlencoded" }
    })
      .then(function (r) { return r.text(); })
      .then(function (html) {
        if (mine === latest) {
          show(html);
        }
      })
      .catch(function () { /* the Preview button still works */ });
  }

  function later(e) {
    if (e.target && skip[e.target.name]) {
      return;
    }
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", later);
})();
