// Haven web chat. Nothing is stored on the device: no cookie, no localStorage, no
// IndexedDB; the conversation id lives in this page's memory only. All text is added as
// text (never as HTML); links and phone numbers are made tappable from that text.
"use strict";
(function () {
  const config = JSON.parse(document.body.dataset.config || "{}");
  const QUICK_EXIT_URL = config.quickExitUrl || "https://www.google.com/search?q=weather";
  // Inactivity clears the screen after 10 minutes; "?idle=N" (seconds) can only shorten it
  // (a shared computer's kiosk, the tests).
  const asked = Number(new URLSearchParams(location.search).get("idle"));
  const IDLE_MS = Math.min(10 * 60, asked > 0 ? asked : Infinity) * 1000;
  const RTL = ["ar", "fa", "he", "ps", "ur", "yi"];
  // Built in for English and Spanish; the server sends every menu language's words.
  const BUILT_IN = {
    en: { language: "Language", exit: "Quick exit", send: "Send", "your-message": "Your message",
      "write-here": "Write your message here", sending: "Sending…", error: "Could not reach Haven. Check your connection and try again.", retry: "Send again",
      cleared: "The chat was cleared after 10 minutes without activity.", you: "You", haven: "Haven", conversation: "Conversation",
      notice: "Automated assistant, not a person. Not the police, not immigration. In danger, call 911. Press Esc twice or tap \"Quick exit\" to leave fast." },
    es: { language: "Idioma", exit: "Salida rápida", send: "Enviar", "your-message": "Tu mensaje",
      "write-here": "Escribe tu mensaje aquí", sending: "Enviando…", error: "No se pudo contactar a Haven. Revisa tu conexión e inténtalo de nuevo.", retry: "Enviar de nuevo",
      cleared: "El chat se borró tras 10 minutos sin actividad.", you: "Tú", haven: "Haven", conversation: "Conversación",
      notice: "Asistente automático, no una persona. No es la policía ni inmigración. En peligro, llama al 911. Pulsa Esc dos veces o toca \"Salida rápida\" para salir rápido." },
  };
  const UI = Object.assign({}, BUILT_IN, config.ui || {});
  const LANGUAGES = config.languages || [{ code: "en", name: "English", dir: "ltr" }, { code: "es", name: "Español", dir: "ltr" }];
  const log = document.getElementById("log");
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const statusLine = document.getElementById("status");
  const picker = document.getElementById("language");
  picker.textContent = "";
  for (const entry of LANGUAGES) {
    const option = document.createElement("option");
    option.value = entry.code;
    option.lang = entry.code;
    option.dir = entry.dir;
    option.textContent = entry.name;
    picker.appendChild(option);
  }
  const browser = (navigator.language || "en").slice(0, 2).toLowerCase();
  let language = LANGUAGES.some((entry) => entry.code === browser) ? browser : "en";
  let sender = newSender();
  let after = 0;
  let idleTimer = null;
  let lastEscape = 0;
  let polling = null;

  function newSender() {
    const bytes = new Uint8Array(16);
    crypto.getRandomValues(bytes);
    return btoa(String.fromCharCode.apply(null, bytes)).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function t(key) { return (UI[language] || {})[key] || BUILT_IN.en[key] || key; }

  function applyLanguage() {
    document.documentElement.lang = language;
    const entry = LANGUAGES.find((item) => item.code === language);
    document.documentElement.dir = entry ? entry.dir : (RTL.includes(language) ? "rtl" : "ltr");
    picker.value = language;
    document.querySelectorAll("[data-text]").forEach((el) => { el.textContent = t(el.dataset.text); });
    document.querySelectorAll("[data-placeholder]").forEach((el) => { el.placeholder = t(el.dataset.placeholder); });
    log.setAttribute("aria-label", t("conversation"));
  }

  // Links (https://…, www.…, name.gov/…) and phone numbers (911, 1-888-373-7888, 233733 after "text").
  const TAPPABLE = /(https?:\/\/[^\s<>"')]+|\b(?:www\.)?[a-z0-9-]+(?:\.[a-z0-9-]+)*\.(?:gov|org|com|net|edu|us)(?:\/[^\s<>"')]*)?|\b(?:1-)?\d{3}-\d{3}-\d{4}\b|\b911\b|\b988\b|\b233733\b)/gi;

  function appendLinked(parent, text) {
    let last = 0;
    for (const match of text.matchAll(TAPPABLE)) {
      let token = match[0].replace(/[.,;:]+$/, "");
      if (match.index > last) parent.appendChild(document.createTextNode(text.slice(last, match.index)));
      const a = document.createElement("a");
      if (/^\d|^1-/.test(token)) {
        const digits = token.replace(/\D/g, "");
        const before = text.slice(Math.max(0, match.index - 10), match.index).toLowerCase();
        a.href = (/text|sms|mensaje|textea/.test(before) ? "sms:" : "tel:") + digits;
      } else {
        a.href = /^https?:/i.test(token) ? token : "https://" + token;
        a.rel = "noopener noreferrer";
        a.target = "_blank";
      }
      a.textContent = token;
      parent.appendChild(a);
      last = match.index + token.length;
    }
    if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
  }

  function addMessage(who, text) {
    const item = document.createElement("div");
    item.className = "message " + who;
    item.dir = "auto";
    const label = document.createElement("span");
    label.className = "visually-hidden";
    label.dir = document.documentElement.dir; // its own direction: "auto" reads the message only
    label.textContent = (who === "user" ? t("you") : t("haven")) + ": ";
    item.appendChild(label);
    appendLinked(item, text);
    log.appendChild(item);
    item.scrollIntoView({ block: "end" });
    return item;
  }

  function addButtons(buttons) {
    const group = document.createElement("div");
    group.className = "replies";
    group.setAttribute("role", "group");
    for (const button of buttons) {
      const element = document.createElement("button");
      element.type = "button";
      element.dir = "auto";
      element.textContent = button.title;
      element.addEventListener("click", () => {
        group.querySelectorAll("button").forEach((b) => { b.disabled = true; });
        const payload = String(button.payload || "");
        if (payload === "/quick_exit") { quickExit(); return; }
        send(payload, button.title);
      });
      group.appendChild(element);
    }
    log.appendChild(group);
  }

  function showReplies(replies) {
    for (const reply of replies || []) {
      if (reply.text) addMessage("bot", reply.text);
      if (reply.buttons && reply.buttons.length) addButtons(reply.buttons);
    }
  }

  async function send(message, shown) {
    touch();
    if (shown !== null) addMessage("user", shown === undefined ? message : shown);
    statusLine.textContent = t("sending");
    try {
      const reply = await fetch("/chat/message", {
        method: "POST", cache: "no-store", credentials: "omit",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ sender: sender, message: message, metadata: { language: language } }),
      });
      const body = await reply.json();
      statusLine.textContent = reply.ok ? "" : (body && body.error) || t("error");
      // The conversation's language after this turn (a message in Arabic makes it Arabic).
      const spoken = reply.headers.get("X-Haven-Language");
      if (spoken && spoken !== language && LANGUAGES.some((entry) => entry.code === spoken)) {
        language = spoken;
        applyLanguage();
      }
      if (reply.ok) showReplies(body);
      else if (reply.status >= 500) offerRetry(message);
    } catch (error) {
      statusLine.textContent = t("error");
      offerRetry(message);
    }
    startPolling();
  }

  // Haven could not be reached: the message stays on screen with a button to send it
  // again. Never resent by itself: if only the reply was lost, the message did arrive.
  function offerRetry(message) {
    const again = document.createElement("button");
    again.type = "button";
    again.className = "retry";
    again.textContent = t("retry");
    again.addEventListener("click", () => { again.remove(); send(message, null); });
    log.appendChild(again);
    again.scrollIntoView({ block: "end" });
  }

  async function poll(mySender) {
    while (mySender === sender) {
      try {
        const reply = await fetch("/chat/events?sender=" + encodeURIComponent(mySender) + "&after=" + after,
          { cache: "no-store", credentials: "omit" });
        if (mySender !== sender) return;
        if (!reply.ok) throw new Error(String(reply.status));
        const body = await reply.json();
        after = body.last || after;
        showReplies(body.messages);
      } catch (error) {
        await new Promise((resolve) => setTimeout(resolve, 3000));
      }
    }
  }

  function startPolling() {
    if (polling !== sender) { polling = sender; poll(sender); }
  }

  function clearScreen() {
    log.replaceChildren();
    input.value = "";
    statusLine.textContent = "";
  }

  function touch() {
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => {
      clearScreen();
      sender = newSender(); after = 0; polling = null;
      statusLine.textContent = t("cleared");
    }, IDLE_MS);
  }

  function quickExit() {
    clearScreen();
    document.title = "";
    sender = ""; // stops polling
    window.location.replace(QUICK_EXIT_URL);
  }

  document.getElementById("quick-exit").addEventListener("click", quickExit);
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    const now = Date.now();
    if (now - lastEscape < 1500) quickExit();
    lastEscape = now;
  });
  ["keydown", "pointerdown", "touchstart"].forEach((name) => document.addEventListener(name, touch, { passive: true }));

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
    input.focus();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) { event.preventDefault(); form.requestSubmit(); }
  });
  picker.addEventListener("change", () => {
    language = picker.value;
    applyLanguage();
    send('/choose_language{"language": "' + language + '"}', picker.options[picker.selectedIndex].text);
  });

  applyLanguage();
  send("/greet", null);
})();
