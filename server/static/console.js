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

// Head office, the campaign form: the product and category picker (a combobox: type, arrows, Enter; click).
function startPicker() {
  const box = document.querySelector(".picker[data-src]");
  if (!box) return;
  const input = box.querySelector("#product-search"), list = box.querySelector("#picker-options");
  const picked = box.querySelector("#picked"), status = box.querySelector("#picker-status");
  let options = [], active = -1, timer = 0, asked = "";

  const close = () => { list.hidden = true; input.setAttribute("aria-expanded", "false"); input.removeAttribute("aria-activedescendant"); active = -1; };
  const mark = (i) => {
    options.forEach((o, j) => o.el.setAttribute("aria-selected", j === i ? "true" : "false"));
    active = i;
    if (i >= 0) { input.setAttribute("aria-activedescendant", options[i].el.id); options[i].el.scrollIntoView({ block: "nearest" }); }
  };
  const chip = (key, name, value, label, extra) => {
    if (picked.querySelector(`[data-key="${CSS.escape(key)}"]`)) { status.textContent = label + " is already chosen."; return; }
    const li = document.createElement("li");
    li.className = "chip" + (name === "categories" ? " category" : "");
    li.dataset.key = key;
    const hidden = Object.assign(document.createElement("input"), { type: "hidden", name, value });
    const text = Object.assign(document.createElement("span"), { textContent: label });
    const hint = Object.assign(document.createElement("span"), { className: "hint", textContent: extra });
    const remove = Object.assign(document.createElement("button"), { type: "button", className: "remove", textContent: "×" });
    remove.setAttribute("aria-label", "Remove " + label);
    li.append(hidden, text, hint, remove);
    picked.append(li);
    status.textContent = label + " added.";
  };
  const choose = (i) => {
    const o = options[i];
    if (!o) return;
    if (o.kind === "category") chip("c" + o.item.name, "categories", o.item.name, "Category: " + o.item.name, o.item.products + " products");
    else chip("p" + o.item.id, "product_ids", String(o.item.id), o.item.name,
              [o.item.brand, o.item.category, o.item.size].filter(Boolean).join(" · "));
    input.value = ""; close(); input.focus();
  };
  const render = (data) => {
    list.replaceChildren(); options = [];
    const add = (kind, item, label, hint) => {
      const li = document.createElement("li");
      li.id = "opt-" + options.length; li.setAttribute("role", "option"); li.dataset.kind = kind;
      li.append(Object.assign(document.createElement("span"), { textContent: label }),
                Object.assign(document.createElement("span"), { className: "hint", textContent: hint }));
      const i = options.length;
      li.addEventListener("mousedown", (ev) => { ev.preventDefault(); choose(i); });
      options.push({ kind, item, el: li });
      list.append(li);
    };
    const group = (text) => list.append(Object.assign(document.createElement("li"), { className: "group", textContent: text, role: "presentation" }));
    if (data.categories.length) group("Categories");
    data.categories.forEach((c) => add("category", c, "Every product in " + c.name, c.products + " active products"));
    if (data.products.length) group("Products");
    data.products.forEach((p) => add("product", p, p.name, [p.brand, p.category, p.size, p.price, p.gtin].filter(Boolean).join(" · ")));
    status.textContent = options.length ? options.length + " matches; arrow keys to choose." : "Nothing matches “" + asked + "”.";
    list.hidden = !options.length; input.setAttribute("aria-expanded", options.length ? "true" : "false");
    mark(options.length ? 0 : -1);
  };
  const search = async () => {
    asked = input.value.trim();
    if (!asked) { close(); return; }
    try {
      const res = await fetch(box.dataset.src + "?q=" + encodeURIComponent(asked), { credentials: "same-origin", headers: { "Accept": "application/json" } });
      if (!res.ok) throw new Error(res.status);
      const data = await res.json();
      if (input.value.trim() === asked) render(data);
    } catch (err) { status.textContent = "Could not search the catalogue (" + err.message + ")."; }
  };
  input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(search, 150); });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "ArrowDown" && options.length) { ev.preventDefault(); if (list.hidden) { list.hidden = false; input.setAttribute("aria-expanded", "true"); } mark((active + 1) % options.length); }
    else if (ev.key === "ArrowUp" && options.length) { ev.preventDefault(); mark((active - 1 + options.length) % options.length); }
    else if (ev.key === "Enter") { ev.preventDefault(); if (!list.hidden && active >= 0) choose(active); }  // Enter here never submits the form
    else if (ev.key === "Escape") { close(); }
  });
  input.addEventListener("blur", () => setTimeout(close, 150));
  picked.addEventListener("click", (ev) => {
    const button = ev.target.closest("button.remove");
    if (!button) return;
    const chipEl = button.closest(".chip");
    status.textContent = chipEl.querySelector("span").textContent + " removed.";
    chipEl.remove(); input.focus();
  });
}
document.addEventListener("DOMContentLoaded", startPicker);

// A select whose options carry data-unit shows the matching prefix or suffix (and data-hint) beside its amount.
function startUnits() {
  [["reward_type", "reward_value", "reward-hint"], ["budget_kind", "budget_amount", null]].forEach(([sel, field, hint]) => {
    const select = document.getElementById(sel), amount = document.getElementById(field);
    if (!select || !amount) return;
    const update = () => {
      const opt = select.selectedOptions[0];
      amount.closest(".unit-input").dataset.unit = opt.dataset.unit;
      if (hint && opt.dataset.hint) document.getElementById(hint).textContent = opt.dataset.hint;
    };
    select.addEventListener("change", update);
  });
}
document.addEventListener("DOMContentLoaded", startUnits);

// Head office, a campaign: the audience preview streams its steps (a progress bar) and then the counts per store.
function startPreview() {
  const box = document.getElementById("preview");
  if (!box || !box.dataset.src) return;
  const button = box.querySelector("#preview-button"), bar = box.querySelector("#preview-progress");
  const step = box.querySelector("#preview-step"), error = box.querySelector("#preview-error");
  const table = box.querySelector("#preview-table"), fmt = (n) => n.toLocaleString();
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => "&#" + c.charCodeAt(0) + ";");
  const show = (result) => {
    const rows = Object.entries(result.stores).map(([store, c]) =>
      `<tr><td>${esc(store)}</td><td class="num">${fmt(c.eligible)}</td><td class="num">${fmt(c.exposed)}</td><td class="num">${fmt(c.holdout)}</td></tr>`);
    table.tBodies[0].innerHTML = rows.join("");
    const t = result.total;
    table.tFoot.innerHTML = `<tr><td>All ${rows.length} stores</td><td class="num">${fmt(t.eligible)}</td><td class="num">${fmt(t.exposed)}</td><td class="num">${fmt(t.holdout)}</td></tr>`;
    table.hidden = false;
    const publish = document.getElementById("publish-form");  // the confirmation now says how many members too
    if (publish) publish.dataset.confirm = publish.dataset.confirm.replace(/ \d[\d,.]* members get it; [\d,.]+ are held out\.$/, "") +
      ` ${fmt(t.exposed)} members get it; ${fmt(t.holdout)} are held out.`;
  };
  button.addEventListener("click", async () => {
    button.disabled = true; error.hidden = true; table.hidden = true;
    box.querySelector(".progress").hidden = false; bar.value = 0; step.textContent = "Starting…";
    try {
      const res = await fetch(box.dataset.src, { credentials: "same-origin", headers: { "Accept": "application/x-ndjson" } });
      if (!res.ok) throw new Error("the server answered " + res.status);
      const reader = res.body.getReader(), decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let nl;
        while ((nl = buffer.indexOf("\n")) >= 0) {
          const line = JSON.parse(buffer.slice(0, nl)); buffer = buffer.slice(nl + 1);
          if (line.error) throw new Error(line.error);
          if (line.stores) show(line);
          else { bar.max = line.of; bar.value = line.done; step.textContent = line.done < line.of ? `Step ${line.done + 1} of ${line.of}: ${line.step}…` : "Done."; }
        }
      }
    } catch (err) {
      error.textContent = "No preview: " + err.message; error.hidden = false;
      box.querySelector(".progress").hidden = true;
    } finally { button.disabled = false; }
  });
}
document.addEventListener("DOMContentLoaded", startPreview);
