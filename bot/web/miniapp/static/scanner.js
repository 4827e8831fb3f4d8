// The door scanner: Telegram's QR popup stays open and every code gets a full-screen verdict,
// a haptic and the running count. Online the server decides (the same log as the chat);
// offline the phone decides from its door pack (keyed hashes of the tickets, never the tokens)
// and queues the scans with their time and nonce until the network is back.
"use strict";
(function () {
  const { webApp, api, Offline, Refused, user, when, text } = window.tq;
  const me = user();
  const store = window.localStorage;
  const PACK = "tq.pack." + me.id, QUEUE = "tq.queue." + me.id, LOCAL = "tq.local." + me.id;
  const WORDS = { valid: "VALID", already_used: "ALREADY USED", revoked: "REVOKED",
    cancelled: "CANCELLED", wrong_event: "WRONG EVENT", not_a_ticket: "NOT A TICKET" };
  const HAPTIC = { valid: "success", already_used: "warning" };
  const REPEAT_MS = 2500; // the camera reports a code many times while it is in view
  const $ = (id) => document.getElementById(id);

  let online = true, lastText = "", lastAt = 0, hideTimer = 0, packAt = 0;
  let tally = { checked_in: 0, sold: 0 };
  // Telegram's QR popup covers the page on phones. A VALID ticket needs no reading (the
  // success haptic says it), so the camera stays open; any other verdict closes the popup so
  // the full-screen verdict can be read, and the camera comes back when it is dismissed.
  let scanning = false, resume = false;

  function load(key, fallback) {
    try { return JSON.parse(store.getItem(key)) || fallback; } catch (e) { return fallback; }
  }
  function save(key, value) { store.setItem(key, JSON.stringify(value)); }
  function device() {
    let id = store.getItem("tq.device");
    if (!id) {
      const bytes = new Uint8Array(6);
      crypto.getRandomValues(bytes);
      id = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      store.setItem("tq.device", id);
    }
    return id;
  }
  function nonce() {
    const n = (parseInt(store.getItem("tq.counter") || "0", 10) + 1);
    store.setItem("tq.counter", String(n));
    return device() + "-" + Date.now().toString(36) + "-" + n.toString(36);
  }

  function setOnline(value) {
    online = value;
    $("offline").hidden = value;
    document.body.dataset.online = value ? "yes" : "no";
  }
  function notice(message) {
    $("notice").hidden = !message;
    text($("notice"), message);
  }
  function showTally() {
    text($("count"), tally.sold ? `${tally.checked_in} / ${tally.sold}` : String(tally.checked_in));
    const queued = load(QUEUE, []).length;
    text($("queue"), queued ? `${queued} scan(s) waiting to sync` : "");
    document.body.dataset.queued = String(queued);
  }

  function show(result, offline) {
    const v = result.verdict;
    const box = $("verdict");
    box.className = v;
    text($("verdict-word"), WORDS[v] || v);
    const parts = [];
    if (result.holder) { parts.push(result.holder); }
    if (result.ticket_type) { parts.push(result.ticket_type); }
    if (result.event) { parts.push(result.event); }
    if (v === "already_used" && result.first_scan_at) {
      parts.push(`first scanned ${when(result.first_scan_at)}` +
                 (result.first_scan_staff ? ` by ${result.first_scan_staff}` : ""));
    }
    if (offline) { parts.push("(offline: will sync)"); }
    text($("verdict-detail"), parts.join(" · "));
    if (typeof result.checked_in === "number") {
      tally = { checked_in: result.checked_in, sold: result.sold || tally.sold };
    }
    text($("verdict-tally"), tally.sold ? `${tally.checked_in} of ${tally.sold} checked in`
                                        : `${tally.checked_in} checked in`);
    showTally();
    box.hidden = false;
    box.dataset.verdict = v;
    const feedback = webApp.HapticFeedback;
    if (feedback && feedback.notificationOccurred) {
      feedback.notificationOccurred(HAPTIC[v] || "error");
    }
    const item = document.createElement("li");
    text(item, `${new Date().toLocaleTimeString()} — ${WORDS[v] || v}` +
               (result.holder ? ` — ${result.holder}` : "") + (offline ? " (offline)" : ""));
    item.dataset.verdict = v;
    $("log").prepend(item);
    if (v !== "valid" && scanning && webApp.closeScanQrPopup) {
      webApp.closeScanQrPopup();
      scanning = false;
      resume = true;
    }
    clearTimeout(hideTimer);
    hideTimer = setTimeout(hideVerdict, v === "valid" ? 2500 : 6000);
  }

  // ---------------------------------------------------------------- offline decisions
  async function digest(keyHex, token) {
    const raw = new Uint8Array(keyHex.match(/../g).map((h) => parseInt(h, 16)));
    const key = await crypto.subtle.importKey("raw", raw, { name: "HMAC", hash: "SHA-256" },
                                              false, ["sign"]);
    const mac = await crypto.subtle.sign("HMAC", key, new TextEncoder().encode(token));
    return Array.from(new Uint8Array(mac), (b) => b.toString(16).padStart(2, "0")).join("").slice(0, 32);
  }
  function tokenOf(textRead, bot) {
    const m = /^https:\/\/t\.me\/([A-Za-z0-9_]{1,64})\?start=t_([A-Za-z0-9_-]{22})$/.exec(textRead.trim());
    return m && bot && m[1].toLowerCase() === bot.toLowerCase() ? m[2] : null;
  }
  async function decideOffline(textRead, scanNonce) {
    const pack = load(PACK, null);
    const token = pack ? tokenOf(textRead, pack.bot) : null;
    if (!token) { return { verdict: "not_a_ticket" }; }
    const hash = await digest(pack.key, token);
    const entry = pack.tickets[hash];
    if (!entry) { return { verdict: "not_a_ticket" }; }
    const [eventId, ticketType, state, admittedAt, admittedBy] = entry;
    const local = load(LOCAL, {});
    const event = pack.events.find((e) => e.id === eventId) || {};
    let verdict;
    const result = { ticket_type: ticketType, event: event.title };
    if (state === "cancelled") { verdict = "cancelled"; }
    else if (state === "revoked") { verdict = "revoked"; }
    else if (local[hash]) {
      verdict = "already_used";
      result.first_scan_at = local[hash];
      result.first_scan_staff = me.first_name;
    } else if (state === "admitted") {
      verdict = "already_used";
      result.first_scan_at = admittedAt;
      result.first_scan_staff = admittedBy;
    } else {
      verdict = "valid";
      local[hash] = new Date().toISOString();
      save(LOCAL, local);
      event.checked_in = (event.checked_in || 0) + 1;
      save(PACK, pack);
    }
    const queue = load(QUEUE, []);
    queue.push({ nonce: scanNonce, token, scanned_at: Date.now(), verdict });
    save(QUEUE, queue);
    result.verdict = verdict;
    result.checked_in = pack.events.reduce((n, e) => n + (e.checked_in || 0), 0);
    result.sold = pack.events.reduce((n, e) => n + (e.sold || 0), 0);
    return result;
  }

  // ---------------------------------------------------------------- scanning
  async function check(textRead) {
    // One nonce per scan: if the server got an online attempt that timed out here, the
    // queued offline copy of the same scan is recognised and not logged twice.
    const scanNonce = nonce();
    if (online) {
      try {
        const result = await api("scan", { method: "POST", body: { text: textRead, nonce: scanNonce } });
        const pack = load(PACK, null);
        const event = pack && pack.events.find((e) => e.title === result.event);
        if (event && typeof result.checked_in === "number") {
          event.checked_in = result.checked_in;
          event.sold = result.sold;
          save(PACK, pack);
          showEvents(pack);
        }
        show(result, false);
        packAt = 0; // the offline copy catches up at the next refresh
        return;
      } catch (e) {
        if (!(e instanceof Offline)) {
          notice(e instanceof Refused && e.status === 401
            ? "This session expired: close the scanner and open it again from the bot."
            : "The server refused this scan.");
          return;
        }
        setOnline(false);
      }
    }
    show(await decideOffline(textRead, scanNonce), true);
  }

  function onCode(textRead) {
    const now = Date.now();
    if (textRead === lastText && now - lastAt < REPEAT_MS) { return false; }
    lastText = textRead;
    lastAt = now;
    check(textRead);
    return false; // true would close the popup: the camera stays open for the next ticket
  }

  function hideVerdict() {
    clearTimeout(hideTimer);
    $("verdict").hidden = true;
    if (resume) { resume = false; openScanner(); }
  }
  function openScanner() {
    if (webApp.showScanQrPopup) {
      webApp.showScanQrPopup({ text: "Point the camera at a ticket" }, onCode);
      scanning = true;
    } else {
      notice("This Telegram has no QR scanner: type the code under the QR instead.");
      $("code").focus();
    }
  }
  $("manual").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("code").value.trim();
    if (value) { $("code").value = ""; check(value); }
  });
  $("scan").addEventListener("click", openScanner);
  $("verdict").addEventListener("click", hideVerdict);
  if (webApp.onEvent) { webApp.onEvent("scanQrPopupClosed", () => { scanning = false; }); }

  // ---------------------------------------------------------------- pack and sync
  function showEvents(pack) {
    const list = $("events");
    list.textContent = "";
    for (const e of pack.events) {
      const item = document.createElement("li");
      text(item, `${e.title}: ${e.checked_in} of ${e.sold} checked in`);
      list.append(item);
    }
    tally = { checked_in: pack.events.reduce((n, e) => n + e.checked_in, 0),
              sold: pack.events.reduce((n, e) => n + e.sold, 0) };
    showTally();
  }
  async function refreshPack() {
    const pack = await api("door/pack", { timeout: 15000 });
    save(PACK, pack);
    save(LOCAL, {});
    packAt = Date.now();
    showEvents(pack);
    setOnline(true);
  }
  let syncing = false;
  const PACK_EVERY_MS = 30000;
  async function sync() {
    if (syncing) { return; }
    syncing = true;
    try {
      const queue = load(QUEUE, []);
      if (!queue.length && online && Date.now() - packAt < PACK_EVERY_MS) { return; }
      if (queue.length) {
        const answer = await api("door/sync", { method: "POST", body: { scans: queue },
                                                timeout: 15000 });
        const done = new Set(answer.results.map((r) => r.nonce));
        save(QUEUE, load(QUEUE, []).filter((s) => !done.has(s.nonce)));
        showTally();
        const dups = answer.results.filter((r) => r.duplicate).length;
        notice(`Synced ${answer.results.length} offline scan(s)` +
               (dups ? `; ${dups} ticket(s) were let in twice: the organizer has been told.` : "."));
        document.body.dataset.synced = String(answer.results.length);
        document.body.dataset.duplicates = String(dups);
      }
      await refreshPack();
    } catch (e) {
      if (e instanceof Offline) { setOnline(false); }
      else if (e instanceof Refused && e.status === 403) { notice("You are not door staff for any event."); }
      else if (e instanceof Refused && e.status === 401) { notice("This session expired: open the scanner again from the bot."); }
    } finally {
      syncing = false;
      showTally();
    }
  }

  text($("who"), me.first_name ? `Scanning as ${me.first_name}` : "");
  webApp.ready();
  if (webApp.expand) { webApp.expand(); }
  const cached = load(PACK, null);
  if (cached) { showEvents(cached); }
  window.addEventListener("online", sync);
  setInterval(sync, 5000);
  sync().then(() => { document.body.dataset.ready = "yes"; });
})();
