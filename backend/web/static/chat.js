// Doppel chat page. Messages typed in a quick burst go to POST /api/reply as ONE turn
// (joined with " <brk> ") once the user pauses, or as several turns where one would be
// longer than the API takes; the reply's `messages` arrive as separate bubbles, one
// after another, with a typing indicator between them.
"use strict";

(function () {
  const config = JSON.parse(document.getElementById("config").textContent);
  const BRK = " <brk> ";
  const thread = document.getElementById("thread");
  const typing = document.getElementById("typing");
  const statusLine = document.getElementById("status");
  const input = document.getElementById("input");
  const composer = document.getElementById("composer");
  const picker = document.getElementById("persona");
  const pickerWrap = document.getElementById("picker-wrap");
  const personaName = document.getElementById("persona-name");
  const avatar = document.getElementById("avatar");

  // One conversation per browser tab, kept in sessionStorage (it survives a reload, not a
  // new tab): the persona, the server's session id and the bubbles on screen, so what the
  // page shows is what the model answers from. The server issues the id: the first turn
  // asks for a "new" one, each reply carries it. Another persona starts a new one.
  const SESSION_KEY = "doppel-session-id";
  const CONVERSATION_KEY = "doppel-conversation";
  const saved = JSON.parse(sessionStorage.getItem(CONVERSATION_KEY) || "null");
  let sessionId = (saved && sessionStorage.getItem(SESSION_KEY)) || "new";
  let shown = [];         // [side, text] of the bubbles on screen

  let persona = saved && config.personas.includes(saved.persona)
    ? saved.persona : config.defaultPersona;
  let burst = [];         // messages typed since the last flush
  let burstTimer = null;
  let lastSide = null;    // "me" | "bot": groups consecutive bubbles of one side
  let queue = Promise.resolve();  // turns are sent one at a time, in order

  function setPersona(name) {
    persona = name;
    personaName.textContent = name || "Doppel";
    const credit = document.getElementById("persona-credit");
    if (credit) credit.textContent = name;
    avatar.textContent = (name || "?").trim().charAt(0).toUpperCase();
    document.title = "Doppel — chat with " + (name || "Doppel");
  }

  function fillPicker() {
    for (const name of config.personas) {
      const option = document.createElement("option");
      option.value = name;
      option.textContent = name;
      picker.appendChild(option);
    }
    picker.value = persona;
    pickerWrap.hidden = config.personas.length < 2;
    picker.addEventListener("change", function () {
      setPersona(picker.value);
      newConversation();
      notice("Now talking to " + picker.value + ": a new conversation.");
    });
  }

  function save() {
    sessionStorage.setItem(SESSION_KEY, sessionId);
    sessionStorage.setItem(CONVERSATION_KEY, JSON.stringify({persona: persona, bubbles: shown}));
  }

  // Another persona does not carry on the last one's conversation (the server's session
  // holds its history): the old bubbles go, the next turn asks for a new session.
  function newConversation() {
    for (const row of Array.from(thread.querySelectorAll(".row:not(.typing), .notice"))) {
      row.remove();
    }
    shown = [];
    lastSide = null;
    sessionId = "new";
    save();
  }

  function scrollDown() {
    thread.scrollTop = thread.scrollHeight;
  }

  function bubble(side, text) {
    const row = document.createElement("div");
    row.className = "row " + side + (lastSide === side ? "" : " first");
    const body = document.createElement("div");
    body.className = "bubble";
    body.textContent = text;
    row.appendChild(body);
    thread.insertBefore(row, typing);
    lastSide = side;
    shown.push([side, text]);
    save();
    scrollDown();
  }

  function notice(text, isError) {
    const line = document.createElement("div");
    line.className = "notice" + (isError ? " error" : "");
    line.textContent = text;
    thread.insertBefore(line, typing);
    lastSide = null;
    scrollDown();
  }

  function showTyping(on) {
    typing.hidden = !on;
    statusLine.textContent = on ? "typing…" : (config.ready ? "online" : "offline");
    statusLine.classList.toggle("typing", on);
    if (on) {
      thread.appendChild(typing);
      scrollDown();
    }
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  // A human-looking pause before each further bubble: longer messages take longer to type.
  function typingDelay(text) {
    return Math.min(1400, 350 + 25 * text.length);
  }

  async function ask(message) {
    showTyping(true);
    try {
      const response = await fetch("/api/reply", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({message: message, session_id: sessionId, persona: persona}),
      });
      let data = null;
      try { data = await response.json(); } catch (_) { /* not JSON: reported below */ }
      if (!response.ok) {
        const text = data && data.error ? data.error.message : "HTTP " + response.status;
        showTyping(false);
        notice("Could not get a reply: " + text, true);
        return;
      }
      if (data.session_id) {
        sessionId = data.session_id;
        save();
      }
      const messages = (data.messages && data.messages.length ? data.messages : [data.reply])
        .filter(function (text) { return text && text.trim(); });
      if (!messages.length) {  // a reply withheld (a guard refused every draw)
        showTyping(false);
        notice(persona + " has no answer to that.");
        return;
      }
      for (let i = 0; i < messages.length; i++) {
        if (i > 0) {
          showTyping(true);
          await sleep(typingDelay(messages[i]));
        }
        showTyping(false);
        bubble("bot", messages[i]);
      }
    } catch (error) {
      showTyping(false);
      notice("Could not reach the server: " + error.message, true);
    }
  }

  // The burst's messages joined into as few turns as the API's length limit allows, in
  // order. Each message fits alone: the input's maxlength is the same limit.
  function turns(messages) {
    const joined = [];
    for (const text of messages) {
      const last = joined.length - 1;
      if (last >= 0 && joined[last].length + BRK.length + text.length <= config.maxMessageChars) {
        joined[last] += BRK + text;
      } else {
        joined.push(text);
      }
    }
    return joined;
  }

  function flush() {
    burstTimer = null;
    for (const message of turns(burst)) {
      queue = queue.then(function () { return ask(message); });
    }
    burst = [];
  }

  function restartBurstTimer() {
    clearTimeout(burstTimer);
    burstTimer = setTimeout(flush, config.burstPauseMs);
  }

  composer.addEventListener("submit", function (event) {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    bubble("me", text);
    burst.push(text);
    restartBurstTimer();
  });

  // Still typing the next message of a burst: keep waiting before sending.
  input.addEventListener("input", function () {
    if (burst.length && input.value) restartBurstTimer();
  });

  setPersona(persona);
  fillPicker();
  for (const [side, text] of saved ? saved.bubbles : []) bubble(side, text);
  if (config.apiKeyRequired) {
    notice("This server needs an API key; the page cannot send one.", true);
  }
  input.focus();
})();
