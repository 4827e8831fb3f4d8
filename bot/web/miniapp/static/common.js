// TicketQ Mini App: what both pages share. Telegram.WebApp comes from Telegram's own script
// inside Telegram; opened in a plain browser (`ticketq demo`), the launch parameters are read
// from the URL fragment exactly as Telegram passes them (#tgWebAppData=...).
"use strict";
window.tq = (function () {
  function fromHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    let theme = {};
    try { theme = JSON.parse(params.get("tgWebAppThemeParams") || "{}"); } catch (e) { theme = {}; }
    return {
      initData: params.get("tgWebAppData") || "", themeParams: theme, version: "6.0",
      platform: "browser", ready() {}, expand() {}, onEvent() {},
      HapticFeedback: { notificationOccurred() {} },
    };
  }
  const webApp = (window.Telegram && window.Telegram.WebApp && window.Telegram.WebApp.initData)
    ? window.Telegram.WebApp : fromHash();

  function applyTheme() {
    const theme = webApp.themeParams || {};
    const root = document.documentElement.style;
    for (const [key, value] of Object.entries(theme)) {
      if (typeof value === "string" && /^#[0-9a-fA-F]{3,8}$/.test(value)) {
        root.setProperty("--tg-theme-" + key.replace(/_/g, "-"), value);
      }
    }
    if (webApp.colorScheme) { document.documentElement.dataset.scheme = webApp.colorScheme; }
  }
  function applyInsets() {
    const root = document.documentElement.style;
    for (const [name, inset] of [["safe-area-inset", webApp.safeAreaInset],
                                 ["content-safe-area-inset", webApp.contentSafeAreaInset]]) {
      if (!inset) { continue; }
      for (const side of ["top", "bottom", "left", "right"]) {
        if (typeof inset[side] === "number") { root.setProperty(`--tg-${name}-${side}`, inset[side] + "px"); }
      }
    }
    if (webApp.viewportStableHeight) {
      root.setProperty("--tg-viewport-stable-height", webApp.viewportStableHeight + "px");
    }
  }
  applyTheme();
  applyInsets();
  if (webApp.onEvent) {
    webApp.onEvent("themeChanged", applyTheme);
    webApp.onEvent("viewportChanged", applyInsets);
    webApp.onEvent("safeAreaChanged", applyInsets);
    webApp.onEvent("contentSafeAreaChanged", applyInsets);
  }

  class Offline extends Error {}
  class Refused extends Error { constructor(status) { super("HTTP " + status); this.status = status; } }

  async function api(path, { method = "GET", body = undefined, timeout = 4000 } = {}) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), timeout);
    let response;
    try {
      response = await fetch("/app/api/" + path, {
        method, signal: controller.signal, cache: "no-store",
        headers: Object.assign({ "Authorization": "tma " + webApp.initData },
                               body === undefined ? {} : { "Content-Type": "application/json" }),
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (e) {
      throw new Offline(String(e));
    } finally {
      clearTimeout(timer);
    }
    if (!response.ok) { throw new Refused(response.status); }
    return response.json();
  }

  function user() {
    try { return JSON.parse(new URLSearchParams(webApp.initData).get("user") || "{}"); }
    catch (e) { return {}; }
  }

  function when(iso) {
    if (!iso) { return ""; }
    const at = new Date(iso);
    return at.toLocaleString([], { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  }

  function text(el, value) { el.textContent = value == null ? "" : String(value); return el; }

  return { webApp, api, Offline, Refused, user, when, text };
})();
