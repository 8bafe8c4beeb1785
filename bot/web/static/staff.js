// Haven staff console. No inline script (the page's CSP forbids it): everything the
// script needs is in data- attributes. Every piece of text a person wrote is added with
// textContent, never as HTML. Nothing is stored on the device.
"use strict";
(function () {
  const csrf = document.body.dataset.csrf || "";
  const LOGIN = "/staff/login";
  const FLAG_TEXT = { crisis: "Crisis", possible_danger: "Possible danger", disclosure: "Disclosure" };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

  // Forms that ask first (closing, releasing).
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) event.preventDefault();
    });
  }

  // --- the queue: refreshed every 5 seconds while the page is visible ----------------
  const queue = document.getElementById("queue");
  if (queue && queue.dataset.refresh) {
    const queueStatus = document.getElementById("queue-status");

    function card(row) {
      const item = el("li", "card" + (row.urgent ? " urgent" : "") + (row.status === "closed" ? " closed" : ""));
      const link = el("a", "card-link");
      link.href = "/staff/referrals/" + Number(row.id);
      const head = el("span", "card-head");
      head.appendChild(el("span", "card-title", "#" + row.id));
      head.appendChild(el("span", "badge " + (row.urgent ? "urgent" : "normal"), row.urgency));
      for (const flag of row.flags || []) head.appendChild(el("span", "badge flag", flag));
      head.appendChild(el("span", "badge status-" + String(row.status).replace(/[^a-z_]/g, ""), row.status_label));
      if (row.live) head.appendChild(el("span", "badge live", "Live chat"));
      link.appendChild(head);
      link.appendChild(el("span", "card-line", [row.language, row.age_group, row.contact].join(" · ")));
      if (row.needs && row.needs.length) link.appendChild(el("span", "card-line", row.needs.join(" · ")));
      if (row.deleted) link.appendChild(el("span", "card-line", "The person deleted their data."));
      let last = row.waiting;
      if (row.claimed_by) last += " · claimed by " + row.claimed_by + (row.mine ? " (you)" : "");
      if (row.outcome) last += " · " + row.outcome;
      link.appendChild(el("span", "card-line muted", last));
      item.appendChild(link);
      return item;
    }

    async function refreshQueue() {
      if (document.hidden) return;
      try {
        const reply = await fetch(queue.dataset.refresh, {
          headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store",
        });
        if (reply.status === 401) { location.assign(LOGIN); return; }
        if (!reply.ok) throw new Error(String(reply.status));
        const body = await reply.json();
        const items = (body.rows || []).map(card);
        if (!items.length) items.push(el("li", "empty", "No open referrals."));
        queue.replaceChildren(...items);
        queueStatus.textContent = "";
      } catch (error) {
        queueStatus.textContent = "Could not refresh the queue. Retrying…";
      }
    }
    setInterval(refreshQueue, 5000);
    document.addEventListener("visibilitychange", refreshQueue);
  }

  // --- the live chat: long poll for messages, send replies --------------------------
  const chat = document.getElementById("chat");
  if (chat && chat.dataset.messages) {
    const log = document.getElementById("log");
    const chatStatus = document.getElementById("chat-status");
    const liveState = document.getElementById("live-state");
    const replyForm = document.getElementById("reply");
    const replyText = document.getElementById("reply-text");
    const replyStatus = document.getElementById("reply-status");
    const userLanguage = chat.dataset.userLanguage || "the person's language";
    let after = 0;
    let first = true;
    let stopped = false;

    function time(seconds) {
      const moment = new Date(Number(seconds) * 1000);
      return moment.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
    }

    function translation(label, text) {
      const box = el("div", "line-translation");
      box.appendChild(el("span", "line-translation-label", label));
      box.appendChild(el("span", "line-translation-text", text));
      return box;
    }

    function lineNode(line) {
      const who = line.who === "user" || line.who === "staff" ? line.who : "bot";
      const node = el("div", "line " + who + (line.flag ? " flagged" : ""));
      const meta = el("p", "line-meta");
      const name = who === "user" ? "The person"
        : who === "staff" ? (line.staff_name || "Staff") + " (staff)"
        : "Haven (automated)";
      meta.appendChild(el("span", "line-who", name));
      meta.appendChild(el("span", "line-time", time(line.at)));
      if (line.flag) meta.appendChild(el("span", "line-flag", line.flag_label || FLAG_TEXT[line.flag] || line.flag));
      node.appendChild(meta);
      node.appendChild(el("p", "line-text", line.text));
      if (line.translated && who === "user") {
        node.appendChild(translation("Machine-translated from " + (line.language_name || line.language || "another language"), line.translated));
      } else if (line.translated && who === "staff") {
        node.appendChild(translation("The person received (machine-translated into " + userLanguage + ")", line.translated));
      }
      return node;
    }

    function showLive(live) {
      if (!liveState) return;
      liveState.textContent = live
        ? "A staff member is in the chat: Haven (automated) stays silent."
        : "Haven (automated) is answering. Join the chat to take over.";
    }

    async function poll() {
      while (!stopped) {
        const query = "?after=" + after + (first ? "&first=1&wait=0" : "&wait=20");
        try {
          const reply = await fetch(chat.dataset.messages + query, {
            headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store",
          });
          if (reply.status === 401) { location.assign(LOGIN); return; }
          const body = await reply.json();
          if (!reply.ok) {
            chatStatus.textContent = body.error || "The conversation cannot be shown.";
            stopped = true;
            return;
          }
          const nearEnd = log.scrollHeight - log.scrollTop - log.clientHeight < 80;
          for (const line of body.lines || []) log.appendChild(lineNode(line));
          if ((body.lines || []).length && (nearEnd || first)) log.scrollTop = log.scrollHeight;
          after = Number(body.last) || after;
          first = false;
          showLive(body.live);
          chatStatus.textContent = body.status === "closed" ? "This referral is closed." : "";
          if (body.status === "closed") { stopped = true; return; }
        } catch (error) {
          chatStatus.textContent = "Connection lost. Retrying…";
          await sleep(3000);
        }
      }
    }
    poll();

    if (replyForm && replyText) {
      replyForm.addEventListener("submit", async (event) => {
        event.preventDefault();
        const text = replyText.value.trim();
        if (!text) { replyStatus.textContent = "Write a message first."; return; }
        const button = replyForm.querySelector("button[type=submit]");
        button.disabled = true;
        replyStatus.textContent = "Sending…";
        try {
          const reply = await fetch(chat.dataset.reply, {
            method: "POST",
            credentials: "same-origin",
            headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
            body: JSON.stringify({ text: text }),
          });
          if (reply.status === 401) { location.assign(LOGIN); return; }
          const body = await reply.json();
          if (!reply.ok || !body.ok) {
            replyStatus.textContent = body.error || "Not sent. Try again.";
            return;
          }
          replyText.value = "";
          if (body.untranslatable) {
            replyStatus.textContent = "Sent, but not translated: no translation package for " + userLanguage +
              " is installed, so the person received your message exactly as you wrote it.";
          } else if (body.translated) {
            replyStatus.textContent = "Sent, machine-translated into " + userLanguage + ".";
          } else {
            replyStatus.textContent = "Sent.";
          }
        } catch (error) {
          replyStatus.textContent = "Could not reach the console's server: the message may not have been sent. Check the conversation before you try again.";
        } finally {
          button.disabled = false;
        }
      });
    }
  }
})();
