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
    if (s.status === "active") {
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
    } else if (s.status === "finished" && s.finish) {
      const stamp = encodeURIComponent(s.trip_id);
      if ($("code128").dataset.trip !== s.trip_id) {
        $("code128").src = "/api/exit/code128.svg?t=" + stamp;
        $("qr").src = "/api/exit/qr.svg?t=" + stamp;
        $("code128").dataset.trip = s.trip_id;
      }
      $("tripid").textContent = s.finish.exit_code;
      $("paytotal").textContent = "To pay: " + money(s.total_minor, s);
      const audit = $("audit");
      audit.hidden = !s.finish.audit;
      audit.textContent = "Rescan check: please wait, a member of staff will check your basket." +
        (s.finish.audit_reason ? " (" + s.finish.audit_reason + ")" : "");
    }
  }

  $("guest").onclick = () => post("/api/guest");
  $("finish").onclick = () => $("confirm").showModal();
  $("confirm-no").onclick = () => $("confirm").close();
  $("confirm-yes").onclick = () => { $("confirm").close(); post("/api/finish", { confirm: true }); };
  $("handin").onclick = () => post("/api/hand-in");

  const stream = new EventSource("/api/stream");
  stream.onmessage = (ev) => render(JSON.parse(ev.data));
  window.shopgoState = () => state;
})();
