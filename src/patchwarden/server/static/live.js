// A run's page kept live: follow /api/v1/runs/ID/events (server-sent events) and update the
// state, the waves' counts and the journal. The page reads fine without this script.
"use strict";
(function () {
  const state = document.getElementById("run-state");
  if (!state || !window.EventSource) { return; }
  const note = document.getElementById("live-note");
  const journal = document.getElementById("journal");
  const source = new EventSource("/api/v1/runs/" + encodeURIComponent(state.dataset.run) + "/events");
  note.textContent = "(live)";
  source.addEventListener("journal", function (e) {
    const d = JSON.parse(e.data);
    const item = document.createElement("li");
    item.textContent = d.at + " " + d.event + " " + d.step;
    journal.insertBefore(item, journal.firstChild);
    while (journal.children.length > 200) { journal.removeChild(journal.lastChild); }
  });
  source.addEventListener("status", function (e) {
    const d = JSON.parse(e.data);
    state.textContent = d.state;
    for (const w of d.waves) {
      const row = document.querySelector('tr[data-wave="' + CSS.escape(w.wave) + '"]');
      if (!row) { continue; }
      let known = 0;
      for (const name of ["succeeded", "failed", "rolled_back"]) {
        const n = w.counts[name] || 0;
        known += n;
        row.querySelector("." + name).textContent = n;
      }
      row.querySelector(".other").textContent = w.units - known;
    }
  });
  source.addEventListener("end", function (e) {
    const d = JSON.parse(e.data);
    if (d.state) { state.textContent = d.state; }
    note.textContent = "(ended)";
    source.close();
  });
  source.onerror = function () { note.textContent = "(reconnecting)"; };
})();
