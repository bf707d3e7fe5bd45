// Filters by engine, status and category: hide the bug cards and list entries that do
// not match, and recount the three lists. Plain JavaScript, no network: works from file://.
(function () {
  "use strict";
  var ids = ["f-engine", "f-status", "f-category"];
  var sel = ids.map(function (id) { return document.getElementById(id); });
  function matches(el, engine, status, category) {
    return (!engine || (el.getAttribute("data-engine") || "").split(" ").indexOf(engine) >= 0) &&
      (!status || el.getAttribute("data-status") === status) &&
      (!category || el.getAttribute("data-category") === category);
  }
  function apply() {
    var engine = sel[0].value, status = sel[1].value, category = sel[2].value;
    var items = document.querySelectorAll("[data-bug]");
    for (var i = 0; i < items.length; i++) {
      items[i].hidden = !matches(items[i], engine, status, category);
    }
    ["new", "still", "gone"].forEach(function (name) {
      var list = document.getElementById("list-" + name);
      var n = list ? list.querySelectorAll("li[data-bug]:not([hidden])").length : 0;
      document.getElementById("count-" + name).textContent = String(n);
    });
    document.getElementById("shown").textContent =
      String(document.querySelectorAll("article[data-bug]:not([hidden])").length);
    var h = [engine, status, category].join("|");
    try {  // keep the filter in the address, so a link or a reload shows the same view
      if (h !== "||") { history.replaceState(null, "", "#filter=" + encodeURIComponent(h)); }
      else if (location.hash.indexOf("#filter=") === 0) { history.replaceState(null, "", location.pathname); }
    } catch (e) { /* some file:// set-ups refuse it; the filter still works */ }
  }
  sel.forEach(function (s) { s.addEventListener("change", apply); });
  document.getElementById("f-reset").addEventListener("click", function () {
    sel.forEach(function (s) { s.value = ""; });
    apply();
  });
  if (location.hash.indexOf("#filter=") === 0) {
    var parts = decodeURIComponent(location.hash.slice(8)).split("|");
    sel.forEach(function (s, i) { if (parts[i]) { s.value = parts[i]; } });
    apply();
  }
  window.promfuzzFilter = function (engine, status, category) {
    sel[0].value = engine || ""; sel[1].value = status || ""; sel[2].value = category || "";
    apply();
  };
})();
