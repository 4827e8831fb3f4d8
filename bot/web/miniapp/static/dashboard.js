// The organizer's dashboard: the figures /stats shows and how they grew, refreshed while open.
"use strict";
(function () {
  const { webApp, api, Offline, Refused, when, text } = window.tq;
  const $ = (id) => document.getElementById(id);
  const eventId = parseInt(new URLSearchParams(location.search).get("event") || "", 10);
  // Refreshes while open (every 10 s; ``&refresh=<seconds>``, at least 2, for a big screen).
  const asked = parseInt(new URLSearchParams(location.search).get("refresh") || "10", 10);
  const REFRESH_MS = Math.max(2, Number.isFinite(asked) ? asked : 10) * 1000;

  function money(list) {
    return list.length ? list.map((m) => `${m.text} ${m.currency}`).join(" + ") : "0";
  }
  function refund(r) { return r ? `${r.count}` : "0"; }
  function svgInto(el, svg) {
    // The SVG is drawn by our server from numbers and escaped labels; parse it as SVG only.
    const doc = new DOMParser().parseFromString(svg, "image/svg+xml");
    el.replaceChildren(document.importNode(doc.documentElement, true));
  }

  function render(d) {
    text($("title"), d.event.title);
    text($("subtitle"), `${when(d.event.starts_at)} · ${d.event.venue} · ${d.event.status}`);
    text($("sold"), `${d.sold} / ${d.capacity}`);
    text($("revenue"), money(d.revenue));
    text($("held"), d.held);
    text($("checked-in"), d.checked_in);
    text($("refunds-succeeded"), refund(d.refunds.succeeded));
    text($("refunds-pending"), refund(d.refunds.pending));
    text($("refunds-failed"), refund(d.refunds.failed));
    $("lottery").hidden = !d.lottery;
    if (d.lottery) {
      text($("lottery-entries"), d.lottery.entries);
      text($("lottery-asked"), d.lottery.tickets_asked);
      text($("lottery-seats"), d.lottery.seats);
      text($("lottery-over"), `×${d.lottery.oversubscription}`);
    }
    const body = $("types");
    body.textContent = "";
    for (const t of d.types) {
      const row = document.createElement("tr");
      for (const value of [t.name, `${t.sold} / ${t.capacity}`, t.held, t.available,
                           `${t.revenue.text} ${t.revenue.currency}`]) {
        row.append(text(document.createElement("td"), value));
      }
      body.append(row);
    }
    svgInto($("chart-sales"), d.charts.sales);
    svgInto($("chart-admissions"), d.charts.admissions);
    $("duplicates-section").hidden = !d.duplicates.length;
    const dups = $("duplicates");
    dups.textContent = "";
    for (const dup of d.duplicates) {
      const item = document.createElement("div");
      item.className = "dup";
      text(item, `${dup.code}: ` + dup.admissions.map(
        (a) => `${when(a.at)} by ${a.staff || "?"}`).join(", then "));
      dups.append(item);
    }
    text($("as-of"), `Updated ${new Date(d.as_of).toLocaleTimeString()} · refreshes every ${REFRESH_MS / 1000} s`);
    document.body.dataset.loaded = String((parseInt(document.body.dataset.loaded || "0", 10)) + 1);
  }

  async function refresh() {
    try {
      render(await api(`events/${eventId}/dashboard`));
      $("notice").hidden = true;
    } catch (e) {
      $("notice").hidden = false;
      text($("notice"), e instanceof Refused && e.status === 403
        ? "Only the organizer of this event can see its dashboard."
        : e instanceof Refused && e.status === 401
          ? "This session expired: open the dashboard again from the bot."
          : e instanceof Offline ? "Offline: showing the last figures." : "Could not load the figures.");
    }
  }

  webApp.ready();
  if (webApp.expand) { webApp.expand(); }
  refresh();
  setInterval(refresh, REFRESH_MS);
})();
