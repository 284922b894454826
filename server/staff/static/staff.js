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

// A short two-note chime (Web Audio; silent until the page has had a click, as browsers require).
function chime() {
  try {
    const ctx = chime.ctx || (chime.ctx = new AudioContext());
    [660, 880].forEach((hz, i) => {
      const osc = ctx.createOscillator(), gain = ctx.createGain();
      osc.frequency.value = hz;
      gain.gain.setValueAtTime(0.2, ctx.currentTime + i * 0.18);
      gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + i * 0.18 + 0.16);
      osc.connect(gain).connect(ctx.destination);
      osc.start(ctx.currentTime + i * 0.18);
      osc.stop(ctx.currentTime + i * 0.18 + 0.17);
    });
    window.shopgoChimes = (window.shopgoChimes || 0) + 1;
  } catch (err) { /* no audio here: the flash still shows */ }
}

// Live trips: refresh the table every few seconds; pause while a form control has focus; a new
// help call flashes and chimes.
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
      const known = new Set(Array.from(box.querySelectorAll("article.trip.help")).map((a) => a.dataset.trip));
      box.innerHTML = data.html;
      const fresh = Array.from(box.querySelectorAll("article.trip.help")).filter((a) => !known.has(a.dataset.trip));
      if (fresh.length) {  // a new call for help: flash it and sound the chime until someone clears it
        fresh.forEach((a) => a.classList.add("flash"));
        chime();
      }
      document.title = (data.urgent ? "(" + data.urgent + ") " : "") + "Live trips · ShopGo";
      status.textContent = data.count + " trip" + (data.count === 1 ? "" : "s") + ", " + data.urgent +
        " needing staff · updated " + new Date().toLocaleTimeString();
    } catch (err) {
      status.textContent = "Not updating (" + err.message + "); retrying";
    }
  };
  setInterval(tick, 3000);
}
document.addEventListener("DOMContentLoaded", startLiveTrips);

// Forms that change what a shopper sees ask first (data-confirm holds the question).
document.addEventListener("submit", (ev) => {
  const form = ev.target;
  if (form instanceof HTMLFormElement && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    ev.preventDefault();
  }
}, true);
