"""The nurse station page: one HTML file, no framework. It long-polls ``/api/alerts`` (bearer
token from the URL fragment ``#token=...``, kept in sessionStorage, never sent in a URL) and
renders every value with ``textContent``, so alert text cannot inject markup."""

from __future__ import annotations

NURSE_STATION_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pumpstream nurse station</title>
<style>
  body { font-family: system-ui, sans-serif; margin: 1rem; background: #f4f5f7; color: #1d1f23; }
  header { display: flex; gap: 1rem; align-items: baseline; flex-wrap: wrap; }
  h1 { font-size: 1.3rem; margin: 0; }
  #status { color: #5b6270; font-size: .9rem; }
  .alert { background: #fff; border-left: 6px solid #999; border-radius: 4px; padding: .8rem 1rem;
           margin: .8rem 0; box-shadow: 0 1px 2px rgba(0,0,0,.1); }
  .alert.high { border-color: #c62828; } .alert.medium { border-color: #ef8f00; }
  .alert.low { border-color: #1565c0; }
  .alert.answered { opacity: .75; }
  .title { font-weight: 600; font-size: 1.05rem; }
  .meta, .evidence, .who { font-size: .9rem; color: #414755; margin: .3rem 0; }
  .badge { display: inline-block; padding: 0 .4rem; border-radius: 3px; font-size: .8rem;
           font-weight: 600; text-transform: uppercase; background: #e3e6ea; margin-right: .3rem; }
  .badge.high { background: #c62828; color: #fff; } .badge.medium { background: #ef8f00; color: #fff; }
  ol { margin: .3rem 0 .3rem 1.2rem; padding: 0; }
  form { display: flex; gap: .5rem; flex-wrap: wrap; align-items: center; margin-top: .4rem; }
  button { padding: .3rem .8rem; }
  #empty { color: #5b6270; }
</style>
</head>
<body>
<header>
  <h1>Nurse station: <span id="ward"></span></h1>
  <label>Ward <select id="ward-select"></select></label>
  <span id="status">connecting...</span>
</header>
<div id="login" hidden>
  <form id="login-form"><label>Access token <input id="token-input" type="password"></label>
  <button type="submit">Open</button></form>
</div>
<p id="empty" hidden>No active alerts on this ward.</p>
<main id="alerts"></main>
<script>
"use strict";
const RESPONSES = [
  ["accepted", "Accepted"], ["true_positive", "True positive"],
  ["not_clinically_relevant", "Not clinically relevant"], ["false_positive", "False positive"],
  ["callback", "Call back"], ["rejected", "Reject (escalate)"]];
const ACTIONS = [["slowed", "Slowed"], ["paused", "Paused"], ["none", "No action"]];
const params = new URLSearchParams(location.search);
let ward = params.get("ward") || "";
let version = -1;
let generation = 0;

function takeToken() {
  const fragment = new URLSearchParams(location.hash.slice(1));
  if (fragment.get("token")) {
    sessionStorage.setItem("pumpstream-token", fragment.get("token"));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("pumpstream-token");
}
let token = takeToken();

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const child of children) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}
function options(select, pairs) {
  for (const [value, label] of pairs) select.append(el("option", {value}, label));
  return select;
}
async function api(path, init) {
  const response = await fetch(path, {...init, headers: {
    "Authorization": "Bearer " + token, "Content-Type": "application/json"}});
  if (response.status === 401) { showLogin(); throw new Error("unauthorised"); }
  return response;
}
function showLogin() {
  document.getElementById("login").hidden = false;
  document.getElementById("status").textContent = "token needed";
}
function fmt(n, unit) { return n === null || n === undefined ? "" : n + (unit ? " " + unit : ""); }

function card(a) {
  const ev = a.evidence || {};
  const parts = [];
  if (ev.pain_score !== null && ev.pain_score !== undefined) parts.push("pain " + ev.pain_score + "/10");
  if (ev.rate_before_ml_h !== null && ev.rate_before_ml_h !== undefined)
    parts.push("rate " + fmt(ev.rate_before_ml_h) + " -> " + fmt(ev.rate_after_ml_h, "mL/h"));
  if (ev.dose_rate_mg_kg_min !== null && ev.dose_rate_mg_kg_min !== undefined)
    parts.push(fmt(ev.dose_rate_mg_kg_min, "mg/kg/min"));
  if (ev.minutes_since_rate_change !== null && ev.minutes_since_rate_change !== undefined)
    parts.push(fmt(ev.minutes_since_rate_change, "min since the step"));
  const v = ev.vitals || {};
  if (v.heart_rate_bpm) parts.push("HR " + v.heart_rate_bpm);
  if (v.systolic_mmhg) parts.push("SBP " + v.systolic_mmhg);
  if (v.temperature_c) parts.push("T " + v.temperature_c + " C");
  if (v.spo2_percent) parts.push("SpO2 " + v.spo2_percent + " %");
  const answered = a.ack && a.ack.stops_escalation;
  const node = el("section", {"class": "alert " + a.priority + (answered ? " answered" : ""),
                              "data-alert-id": a.alert_id},
    el("div", {"class": "title"}, el("span", {"class": "badge " + a.priority}, a.priority), a.title),
    el("div", {"class": "meta"}, a.rule + " " + a.type + " | patient " + a.patient_ref +
       (a.infusion_id ? " | infusion " + a.infusion_id : "") + " | since " +
       new Date(a.started_at).toLocaleTimeString()),
    el("div", {"class": "evidence"}, parts.join(" | ")),
    el("ol", {}, ...a.recommendations.map(r => el("li", {}, r.text))));
  if (a.risk_factors.length) node.append(el("div", {"class": "meta"}, "risk factors: " + a.risk_factors.join(", ")));
  const who = "paged: " + a.recipient.role.replace(/_/g, " ") + " (" + a.recipient.name + ")" +
    (a.escalation_due_at ? " | escalates at " + new Date(a.escalation_due_at).toLocaleTimeString() : "");
  node.append(el("div", {"class": "who"}, who));
  if (a.ack) {
    node.append(el("div", {"class": "who ack-status"}, "acknowledged: " + a.ack.response.replace(/_/g, " ") +
      ", action: " + a.ack.action_taken + " (" + a.ack.responder_role + ")"));
  }
  const response = options(el("select", {name: "response"}), RESPONSES);
  const action = options(el("select", {name: "action_taken"}), ACTIONS);
  const button = el("button", {type: "submit", "class": "ack-button"}, "Acknowledge");
  const form = el("form", {"class": "ack-form"}, response, action, button);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    button.disabled = true;
    try {
      const r = await api("/api/alerts/" + encodeURIComponent(a.alert_id) + "/ack", {
        method: "POST", body: JSON.stringify({response: response.value, action_taken: action.value})});
      button.textContent = r.ok ? "Sent" : "Failed (" + r.status + ")";
      if (!r.ok) button.disabled = false;
    } catch (err) { button.textContent = "Failed"; button.disabled = false; }
  });
  node.append(form);
  return node;
}

function render(data) {
  document.getElementById("ward").textContent = data.ward;
  const list = document.getElementById("alerts");
  list.replaceChildren(...data.alerts.map(card));
  document.getElementById("empty").hidden = data.alerts.length > 0;
  document.getElementById("status").textContent = data.alerts.length + " active, updated " +
    new Date().toLocaleTimeString();
}

async function loadWards() {
  const r = await api("/api/wards");
  const data = await r.json();
  if (!ward) ward = data.default_ward;
  const select = document.getElementById("ward-select");
  select.replaceChildren();
  options(select, data.wards.map(w => [w, w]));
  select.value = ward;
  select.onchange = () => { ward = select.value; version = -1; generation++; poll(generation); };
}

async function poll(gen) {
  while (gen === generation) {
    try {
      const r = await api("/api/alerts?ward=" + encodeURIComponent(ward) + "&after=" + version);
      if (!r.ok) throw new Error("HTTP " + r.status);
      const data = await r.json();
      if (gen !== generation) return;
      if (data.version !== version) { version = data.version; render(data); }
    } catch (err) {
      if (!token) return;
      document.getElementById("status").textContent = "reconnecting (" + err.message + ")";
      await new Promise(done => setTimeout(done, 2000));
    }
  }
}

document.getElementById("login-form").addEventListener("submit", (e) => {
  e.preventDefault();
  token = document.getElementById("token-input").value;
  sessionStorage.setItem("pumpstream-token", token);
  document.getElementById("login").hidden = true;
  start();
});
async function start() {
  try { await loadWards(); } catch (err) { return; }
  generation++;
  poll(generation);
}
if (token) start(); else showLogin();
</script>
</body>
</html>
"""
