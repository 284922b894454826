// The shopper's screen: renders each state pushed by the handheld over server-sent events.
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const SYMBOLS = { GBP: "£", EUR: "€", USD: "$" };
  let state = null;

  function money(minor, s) {
    if (minor === null || minor === undefined) return "–";
    const exp = s.exponent, sign = minor < 0 ? "-" : "";
    const text = (Math.abs(minor) / Math.pow(10, exp)).toFixed(exp);
    const sym = SYMBOLS[s.currency];
    return sym ? sign + sym + text : sign + text + " " + s.currency;
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function post(path, body) {
    return fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
                         body: JSON.stringify(body || {}) })
      .then((r) => r.ok ? null : r.json().then((e) => showMessage({ text: e.message, level: "error" })))
      .catch(() => showMessage({ text: "The scanner is not answering. Please try again.", level: "error" }));
  }

  function showMessage(m) {
    const box = $("message");
    box.hidden = !m;
    if (m) { box.textContent = m.text; box.className = m.level || "info"; }
  }

  function lineItem(line, s) {
    const li = el("li", "line");
    li.dataset.key = line.key;
    li.appendChild(el("div", "name", line.name));
    li.appendChild(el("div", "price", money(line.net_minor, s)));
    const detail = [];
    if (line.weight_g !== null) detail.push((line.weight_g / 1000).toFixed(3) + " kg");
    if (line.unit_price_minor !== null && !line.is_label) detail.push(line.quantity + " × " + money(line.unit_price_minor, s));
    if (line.savings_minor > 0) detail.push("you save " + money(line.savings_minor, s));
    if (line.promotions.length) detail.push(line.promotions.join(", "));
    li.appendChild(el("div", "detail", detail.join(" · ")));
    li.appendChild(el("div", "flag", line.age_check ? "Staff check needed" : ""));
    if (line.offer_text) li.appendChild(el("div", "offer", "Your offer: " + line.offer_text));
    const controls = el("div", "controls");
    if (!line.is_label) {
      const minus = el("button", "minus", "−"), plus = el("button", "plus", "+");
      minus.setAttribute("aria-label", "one less");
      plus.setAttribute("aria-label", "one more");
      minus.onclick = () => post("/api/lines/" + encodeURIComponent(line.key) + "/quantity", { quantity: line.quantity - 1 });
      plus.onclick = () => post("/api/lines/" + encodeURIComponent(line.key) + "/quantity", { quantity: line.quantity + 1 });
      controls.append(minus, el("span", "qty", String(line.quantity)), plus);
    }
    const remove = el("button", "remove", "Remove");
    remove.onclick = () => post("/api/lines/" + encodeURIComponent(line.key) + "/remove");
    controls.appendChild(remove);
    li.appendChild(controls);
    return li;
  }

  function render(s) {
    state = s;
    $("idle").hidden = s.status !== "idle";
    $("shopping").hidden = s.status !== "active";
    $("finished").hidden = s.status !== "finished";
    $("who").textContent = s.member && s.member.name ? s.member.name : (s.status === "idle" ? "ShopGo" : (s.guest ? "Guest" : "Member"));
    const badge = $("offline");
    badge.hidden = !s.offline;
    badge.textContent = "offline, " + s.pending_events + " scan" + (s.pending_events === 1 ? "" : "s") + " waiting";
    showMessage(s.message);
    $("privacy").hidden = !(s.status === "active" && s.member);
    if (s.status === "active") {
      const tier = $("tier");
      tier.hidden = !(s.member && s.member.tier);
      if (s.member && s.member.tier) {
        tier.textContent = s.member.tier[0].toUpperCase() + s.member.tier.slice(1) + " member" +
          (s.member.benefit ? " · " + s.member.benefit : "") + " · " + s.member.points.toLocaleString() + " points";
      }
      $("total").textContent = money(s.total_minor, s);
      $("count").textContent = s.item_count + (s.item_count === 1 ? " item" : " items");
      $("savings").textContent = "savings " + money(s.savings_minor, s);
      $("indicative").hidden = !s.offline;
      const offers = $("offers");
      offers.hidden = !s.offers.length;
      offers.textContent = s.offers.length ? "Your offers: " + s.offers.map((o) => o.description).join(" · ") : "";
      const list = $("lines");
      list.replaceChildren(...s.lines.map((line) => lineItem(line, s)));
      $("empty").hidden = s.lines.length > 0;
      $("help").textContent = s.help ? "Staff called" : "Call staff";
      $("helping").hidden = !s.help;
    } else if (s.status === "finished" && s.finish) {
      $("topay").hidden = s.finish.empty;
      $("nothing").hidden = !s.finish.empty;
      if (!s.finish.empty && $("qr").dataset.trip !== s.trip_id) {
        $("qr").src = "/api/exit/qr.svg?t=" + encodeURIComponent(s.trip_id);
        $("qr").dataset.trip = s.trip_id;
      }
      $("tripid").textContent = s.finish.exit_code;
      $("paytotal").textContent = "To pay: " + money(s.total_minor, s);
      $("audit").hidden = !s.finish.audit;
    }
  }

  function openReport() {
    const select = $("report-item");
    select.replaceChildren(el("option", "", "Not one in my basket"));
    select.firstChild.value = "";
    for (const line of (state && state.lines) || []) {
      const option = el("option", "", line.name);
      option.value = line.key;
      select.appendChild(option);
    }
    $("report-note").value = "";
    $("report").showModal();
  }

  $("guest").onclick = () => post("/api/guest");
  $("finish").onclick = () => $("confirm").showModal();
  $("confirm-no").onclick = () => $("confirm").close();
  $("confirm-yes").onclick = () => { $("confirm").close(); post("/api/finish", { confirm: true }); };
  $("handin").onclick = () => post("/api/hand-in");
  $("help").onclick = () => post("/api/help");
  $("privacy").onclick = () => {
    const form = $("consents-form"), member = (state && state.member) || {};
    const held = member.consents || {};
    for (const name of ["personal_offers", "email_receipts", "marketing"]) form.elements[name].checked = !!held[name];
    form.elements.email_receipts.disabled = member.email_known === false && !held.email_receipts;
    $("no-email").hidden = member.email_known !== false;
    $("consents").showModal();
  };
  $("consents-cancel").onclick = () => $("consents").close();
  $("consents-form").onsubmit = (ev) => {
    ev.preventDefault();
    const form = $("consents-form"), answers = {};
    for (const name of ["personal_offers", "email_receipts", "marketing"]) {
      if (!form.elements[name].disabled) answers[name] = form.elements[name].checked;
    }
    $("consents").close();
    post("/api/consents", answers);
  };
  $("problem").onclick = openReport;
  $("report-cancel").onclick = () => $("report").close();
  $("report-form").onsubmit = (ev) => {
    ev.preventDefault();
    const kind = $("report-form").querySelector("input[name=kind]:checked").value;
    const key = $("report-item").value || null;
    $("report").close();
    post("/api/problem", { kind: kind, key: key, message: $("report-note").value });
  };

  // The demo: scans typed or clicked here go through the scanner's interpretation, as a real read does.
  function demoScan(code) {
    return fetch("/api/demo/scan", { method: "POST", headers: { "Content-Type": "application/json" },
                                      body: JSON.stringify({ code: code }) });
  }
  fetch("/api/demo").then((r) => r.ok ? r.json() : null).then((samples) => {
    if (!samples) return;
    $("demo").hidden = false;
    const box = $("demo-samples");
    const add = (code, label) => {
      const b = el("button", "sample", label);
      b.type = "button";
      b.title = code;
      b.onclick = () => demoScan(code);
      box.appendChild(b);
    };
    (samples.cards || []).forEach((card, i) => add(card, "Loyalty card " + (i + 1)));
    (samples.products || []).forEach((p) => add(p[0], p[1]));
    $("demo-form").onsubmit = (ev) => {
      ev.preventDefault();
      const code = $("demo-code").value.trim();
      if (code) demoScan(code).then(() => { $("demo-code").value = ""; });
    };
  }).catch(() => {});

  const stream = new EventSource("/api/stream");
  stream.onmessage = (ev) => render(JSON.parse(ev.data));
  window.shopgoState = () => state;
})();
