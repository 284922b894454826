// ShopGo staff console: the little JavaScript the pages need. No build step, no network but our own.
"use strict";

// Basket rows load their lines the first time they are opened.
document.addEventListener("toggle", async (ev) => {
  const el = ev.target;
  if (!(el instanceof HTMLDetailsElement) || !el.open || !el.dataset.src || el.dataset.loaded) return;
  el.dataset.loaded = "1";
  const box = el.querySelector(".lines");
  box.setAttribute("aria-busy", "true");
  try {
    const res = await fetch(el.dataset.src, { headers: { "Accept": "text/html" }, credentials: "same-origin" });
    if (!res.ok) throw new Error(res.status);
    box.innerHTML = await res.text();
  } catch (err) {
    box.insertAdjacentHTML("afterbegin", "<p class='alert'>Could not load the lines (" + err.message + ").</p>");
    delete el.dataset.loaded;
  } finally {
    box.removeAttribute("aria-busy");
  }
}, true);

// Live trips: refresh the table every few seconds; pause while a form control has focus.
function startLiveTrips() {
  const box = document.getElementById("live-trips");
  if (!box) return;
  const status = document.getElementById("live-status");
  const tick = async () => {
    if (box.contains(document.activeElement) && document.activeElement !== document.body) return;
    try {
      const res = await fetch(box.dataset.src, { headers: { "Accept": "application/json" }, credentials: "same-origin" });
      if (!res.ok) throw new Error(res.status);
      const data = await res.json();
      box.innerHTML = data.html;
      status.textContent = data.count + " trip" + (data.count === 1 ? "" : "s") + ", " + data.urgent +
        " needing staff · updated " + new Date().toLocaleTimeString();
    } catch (err) {
      status.textContent = "Not updating (" + err.message + "); retrying";
    }
  };
  setInterval(tick, 3000);
}
document.addEventListener("DOMContentLoaded", startLiveTrips);
