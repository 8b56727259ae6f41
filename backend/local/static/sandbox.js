// The sandbox page: post as any user, watch threads (and the bot's replies) every second.
// Tweet ids are beyond 2**53, so they stay strings everywhere.
"use strict";

const $ = (id) => document.getElementById(id);
let botHandle = "doppel";
let replyTo = null;
let lastRendered = "";

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  Object.assign(node, attrs);
  node.append(...children);
  return node;
}

function renderTweet(tweet, depth) {
  const reply = el("button", { type: "button", className: "reply", textContent: "reply" });
  reply.onclick = () => startReply(tweet);
  const node = el("div", { className: "tweet" + (tweet.author === botHandle ? " bot" : "") },
    el("span", { className: "who", textContent: "@" + tweet.author + " " }),
    el("time", { textContent: new Date(tweet.created_at).toLocaleTimeString() }),
    reply,
    el("p", { textContent: tweet.text }));
  node.style.marginLeft = Math.min(depth, 6) + "rem";
  return node;
}

function render(tweets) {
  const children = new Map();
  const roots = [];
  const byId = new Map(tweets.map((t) => [t.id, t]));
  for (const tweet of tweets) {
    const parent = (tweet.referenced_tweets || []).find((r) => r.type === "replied_to");
    if (parent && byId.has(parent.id)) {
      if (!children.has(parent.id)) children.set(parent.id, []);
      children.get(parent.id).push(tweet);
    } else {
      roots.push(tweet);
    }
  }
  const timeline = $("timeline");
  timeline.replaceChildren();
  for (const root of roots.reverse()) {  // newest thread first
    const thread = el("section", { className: "thread" });
    const walk = (tweet, depth) => {
      thread.append(renderTweet(tweet, depth));
      for (const child of children.get(tweet.id) || []) walk(child, depth + 1);
    };
    walk(root, 0);
    timeline.append(thread);
  }
}

function startReply(tweet) {
  replyTo = tweet;
  $("replying").hidden = false;
  $("replying-to").textContent = "@" + tweet.author + ": " + tweet.text.slice(0, 60);
  $("text").focus();
}

async function refresh() {
  try {
    const response = await fetch("/sandbox/tweets");
    const body = await response.json();
    botHandle = body.bot.username;
    $("bot-handle").textContent = "@" + botHandle;
    const snapshot = JSON.stringify(body.tweets);
    if (snapshot !== lastRendered) {
      lastRendered = snapshot;
      render(body.tweets);
    }
  } catch (error) {
    $("error").textContent = "sandbox unreachable: " + error;
  }
}

$("compose").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const payload = { author: $("author").value.trim(), text: $("text").value };
  if (replyTo) payload.in_reply_to_tweet_id = replyTo.id;
  const response = await fetch("/sandbox/tweets", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(payload),
  });
  const body = await response.json();
  if (!response.ok) {
    $("error").textContent = body.detail || JSON.stringify(body);
    return;
  }
  $("error").textContent = "";
  $("text").value = "";
  $("count").textContent = "0 / 280";
  $("cancel-reply").click();
  refresh();
});

$("fault").addEventListener("submit", async (submit) => {
  submit.preventDefault();
  const fault = { endpoint: $("fault-endpoint").value, status: Number($("fault-status").value),
                  count: Number($("fault-count").value), reset_in: 30 };
  const response = await fetch("/sandbox/faults", {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(fault),
  });
  $("fault-note").textContent = response.ok
    ? `next ${fault.count} ${fault.endpoint} call(s) answer ${fault.status}` : "refused";
});

$("cancel-reply").onclick = () => { replyTo = null; $("replying").hidden = true; };
$("text").addEventListener("input", () => {
  $("count").textContent = $("text").value.length + " / 280";
});

refresh();
setInterval(refresh, 1000);
