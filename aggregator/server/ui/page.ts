/**
 * GET /ui: the aggregator's status page for people. One self-contained HTML
 * answer (inline CSS and JS, nothing fetched from elsewhere) that holds no
 * data itself, so it needs no token; its script reads the read-scope JSON
 * endpoints (/v1/agents, /v1/topics, /v1/sinks, /v1/groups, /v1/alerts) with the token
 * from the URL fragment (#token=..., never sent to the server) or typed into
 * its form, kept in sessionStorage. Every value is put in the page as text
 * (textContent), never as markup: host names and topics come from clients.
 * The Content-Security-Policy allows only this page's own script and style
 * (by hash) and requests to this origin.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpError } from '../http-util.js';

const STYLE = `
:root { color-scheme: light dark; --bg: #fff; --fg: #1b1f24; --mut: #5b6570; --line: #d6dbe0; --ok: #1a7f37; --bad: #c62828; --warn: #9a6700; --head: #f3f5f7; }
@media (prefers-color-scheme: dark) { :root { --bg: #111418; --fg: #e6e9ec; --mut: #9aa4ae; --line: #2c333a; --ok: #4ac26b; --bad: #ff6b6b; --warn: #d4a72c; --head: #1a1f25; } }
* { box-sizing: border-box; }
body { margin: 0; padding: 1rem; font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--fg); }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: .5rem 1rem; margin-bottom: .5rem; }
h1 { font-size: 1.3rem; margin: 0; }
h2 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
#state { color: var(--mut); font-size: .9rem; }
#state.err { color: var(--bad); }
form { display: flex; flex-wrap: wrap; gap: .5rem; align-items: center; margin: .5rem 0; }
form[hidden] { display: none; }
input { font: inherit; padding: .35rem .5rem; min-width: 16rem; max-width: 100%; border: 1px solid var(--line); border-radius: 4px; background: var(--bg); color: var(--fg); }
button { font: inherit; padding: .35rem .8rem; border: 1px solid var(--line); border-radius: 4px; background: var(--head); color: var(--fg); cursor: pointer; }
.wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid var(--line); white-space: nowrap; }
th { background: var(--head); font-weight: 600; font-size: .85rem; }
td.num, th.num { text-align: right; }
td.host { white-space: normal; word-break: break-all; }
.empty { color: var(--mut); font-style: italic; }
.s-ok { color: var(--ok); } .s-degraded, .s-firing, .s-stale { color: var(--bad); font-weight: 600; } .s-not_running, .s-pending { color: var(--warn); }
@media (max-width: 640px) {
  body { padding: .6rem; font-size: 14px; }
  thead { display: none; }
  table, tbody, tr, td { display: block; width: 100%; }
  tr { border: 1px solid var(--line); border-radius: 6px; margin-bottom: .6rem; padding: .2rem 0; }
  td { border: 0; display: flex; justify-content: space-between; gap: 1rem; white-space: normal; text-align: right; padding: .2rem .6rem; }
  td.num { text-align: right; }
  td::before { content: attr(data-label); color: var(--mut); text-align: left; font-weight: 600; flex-shrink: 0; }
}
`;

const SCRIPT = `
"use strict";
(function () {
  var KEY = "logship-token";
  var EVERY_MS = 3000;
  var MAX_AGENTS = 500; // the most recently heard; the table may hold 10,000
  var token = null;
  var timer = null;
  var prevTopics = null;
  var $ = function (id) { return document.getElementById(id); };

  var m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  if (m) {
    try { token = decodeURIComponent(m[1]); } catch (e) { token = m[1]; }
    try { sessionStorage.setItem(KEY, token); } catch (e) {}
    history.replaceState(null, "", location.pathname + location.search);
  } else {
    try { token = sessionStorage.getItem(KEY); } catch (e) {}
  }

  function state(text, bad) { var s = $("state"); s.textContent = text; s.className = bad ? "err" : ""; }
  function bytes(n) {
    if (n === null || n === undefined) return "\\u2013";
    var u = ["B", "KiB", "MiB", "GiB", "TiB"]; var i = 0; var v = Number(n);
    while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return (i === 0 ? String(Math.round(v)) : v.toFixed(1)) + " " + u[i];
  }
  function num(n, digits) {
    if (n === null || n === undefined) return "\\u2013";
    return Number(n).toLocaleString("en-US", { maximumFractionDigits: digits || 0 });
  }
  function age(s) {
    if (s < 60) return s.toFixed(1) + " s ago";
    if (s < 3600) return Math.round(s / 60) + " min ago";
    return (s / 3600).toFixed(1) + " h ago";
  }
  function cell(tr, label, text, cls) {
    var td = document.createElement("td");
    td.setAttribute("data-label", label);
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }
  function fill(id, rows, empty) {
    var body = $(id).querySelector("tbody");
    var cols = $(id).querySelectorAll("thead th");
    var labels = [];
    for (var i = 0; i < cols.length; i++) labels.push(cols[i].textContent);
    body.replaceChildren();
    if (rows.length === 0) {
      var tr = document.createElement("tr");
      var td = cell(tr, "", empty, "empty");
      td.colSpan = labels.length;
      body.appendChild(tr);
      return;
    }
    rows.forEach(function (r) {
      var tr = document.createElement("tr");
      r.forEach(function (c, j) { cell(tr, labels[j], c[0], c[1]); });
      body.appendChild(tr);
    });
  }

  function get(path) {
    return fetch(path, { headers: { authorization: "Bearer " + token }, cache: "no-store", credentials: "omit" }).then(function (res) {
      if (res.status === 401 || res.status === 403) { var e = new Error("the token was refused (" + res.status + "): it needs the read scope"); e.auth = true; throw e; }
      if (!res.ok) throw new Error(path + ": HTTP " + res.status);
      return res.json();
    });
  }

  function showAgents(d) {
    var all = d.agents || [];
    var rows = all.slice(0, MAX_AGENTS).map(function (a) {
      var stale = a.last_batch_age_seconds > 60;
      return [
        [String(a.host), "host"],
        [age(a.last_batch_age_seconds), stale ? "s-stale" : ""],
        [bytes(a.bytes_per_second) + "/s", "num"],
        [num(a.records_per_second, 1) + "/s", "num"],
        [a.buffer_bytes === null ? "\\u2013" : bytes(a.buffer_bytes) + (a.buffer_max_bytes ? " / " + bytes(a.buffer_max_bytes) : ""), "num"],
        [bytes(a.lag_bytes), "num"],
      ];
    });
    if (all.length > MAX_AGENTS) rows.push([["\u2026 and " + num(all.length - MAX_AGENTS) + " more, heard from less recently (GET /v1/agents lists them all)", "empty"], ["", ""], ["", ""], ["", ""], ["", ""], ["", ""]]);
    fill("agents", rows, "no agent has sent anything since this aggregator started");
  }

  function showTopics(d, now) {
    var cur = {};
    var rows = [];
    (d.topics || []).forEach(function (t) {
      (t.partitions || []).forEach(function (p) {
        var k = JSON.stringify([t.name, p.partition]);
        cur[k] = { n: p.next_offset, b: p.bytes };
        var rr = "\\u2026", br = "\\u2026";
        if (prevTopics && prevTopics.v[k]) {
          var dt = (now - prevTopics.at) / 1000;
          if (dt > 0) {
            rr = num(Math.max(0, (p.next_offset - prevTopics.v[k].n) / dt), 1) + "/s";
            br = bytes(Math.max(0, (p.bytes - prevTopics.v[k].b) / dt)) + "/s";
          }
        }
        rows.push([[String(t.name), "host"], [String(p.partition), "num"], [num(p.next_offset), "num"], [bytes(p.bytes), "num"], [rr, "num"], [br, "num"]]);
      });
    });
    prevTopics = { at: now, v: cur };
    fill("topics", rows, "no topics yet");
  }

  function showSinks(d) {
    var rows = (d.sinks || []).map(function (s) {
      var lag = s.lag || {};
      var total = 0;
      var parts = Object.keys(lag).sort().map(function (t) { total += Number(lag[t]) || 0; return t + ": " + num(lag[t]); });
      return [[String(s.name), "host"], [String(s.type), ""], [String(s.state) + (s.reason ? " (" + s.reason + ")" : ""), "s-" + String(s.state).replace(/[^a-z_]/g, "")], [num(total), "num"], [parts.join(", ") || "\\u2013", "host"]];
    });
    fill("sinks", rows, "no record sinks configured");
  }

  function showGroups(d) {
    var rows = (d.groups || []).map(function (g) {
      var lag = g.lag || {};
      var parts = Object.keys(lag).sort().map(function (t) { return t + ": " + (lag[t] === null ? "?" : num(lag[t])); });
      return [[String(g.group), "host"], [num(g.total_lag), "num"], [parts.join(", ") || "\u2013", "host"]];
    });
    fill("groups", rows, "no consumer group has committed an offset");
  }

  function showAlerts(d) {
    var rows = [];
    (d.rules || []).forEach(function (r) {
      (r.groups || []).forEach(function (g) {
        if (g.state !== "firing") return;
        var labels = Object.keys(g.group || {}).sort().map(function (k) { return k + "=" + g.group[k]; }).join(", ");
        rows.push([[String(r.name), "host"], [labels || "\\u2013", "host"], [String(g.active_at || g.since), ""], [g.value === undefined ? num(g.count) : num(g.value, 2), "num"]]);
      });
    });
    fill("alerts", rows, "no alert is firing");
  }

  function tick() {
    timer = null;
    var now = Date.now();
    Promise.all([get("/v1/agents"), get("/v1/topics"), get("/v1/sinks"), get("/v1/groups"), get("/v1/alerts")]).then(function (r) {
      showAgents(r[0]); showTopics(r[1], now); showSinks(r[2]); showGroups(r[3]); showAlerts(r[4]);
      state("updated " + new Date(now).toLocaleTimeString() + ", every " + EVERY_MS / 1000 + " s", false);
      timer = setTimeout(tick, EVERY_MS);
    }).catch(function (e) {
      state(String(e && e.message || e), true);
      if (e && e.auth) { askToken(); return; }
      timer = setTimeout(tick, EVERY_MS);
    });
  }

  function askToken() {
    if (timer) { clearTimeout(timer); timer = null; }
    $("login").hidden = false;
    $("logout").hidden = true;
    $("token").focus();
  }

  $("login").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var t = $("token").value.trim();
    if (!t) return;
    token = t;
    $("token").value = "";
    try { sessionStorage.setItem(KEY, t); } catch (e) {}
    $("login").hidden = true;
    $("logout").hidden = false;
    state("loading\\u2026", false);
    prevTopics = null;
    tick();
  });
  $("logout").addEventListener("click", function () {
    try { sessionStorage.removeItem(KEY); } catch (e) {}
    token = null;
    state("signed out", false);
    askToken();
  });

  if (token) { $("login").hidden = true; tick(); } else { state("a token with the read scope is needed", false); askToken(); }
})();
`;

function table(id: string, heads: Array<[string, boolean?]>): string {
  const th = heads.map(([h, n]) => `<th${n ? ' class="num"' : ''}>${h}</th>`).join('');
  return `<div class="wrap"><table id="${id}"><thead><tr>${th}</tr></thead><tbody></tbody></table></div>`;
}

const HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>logship aggregator</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header><h1>logship aggregator</h1><span id="state">loading…</span><button id="logout" type="button" hidden>Forget token</button></header>
<form id="login" hidden autocomplete="off">
<label for="token">Token (read scope)</label>
<input id="token" type="password" autocomplete="off" spellcheck="false">
<button type="submit">Show status</button>
</form>
<h2>Agents</h2>
${table('agents', [['Host'], ['Last batch'], ['Bytes/s', true], ['Records/s', true], ['Buffer', true], ['Lag', true]])}
<h2>Topics and partitions</h2>
${table('topics', [['Topic'], ['Partition', true], ['Records', true], ['Stored', true], ['Records/s', true], ['Bytes/s', true]])}
<h2>Sinks</h2>
${table('sinks', [['Sink'], ['Type'], ['State'], ['Lag (records)', true], ['Lag per topic']])}
<h2>Consumer groups</h2>
${table('groups', [['Group'], ['Lag (records)', true], ['Lag per topic']])}
<h2>Firing alerts</h2>
${table('alerts', [['Rule'], ['Group'], ['Firing since'], ['Value', true]])}
<script>${SCRIPT}</script>
</body>
</html>
`;

const sha256 = (s: string) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;

/** Only this page's own script and style run; it may talk to this origin and nowhere else. */
export const UI_CSP = [
  "default-src 'self'",
  `script-src ${sha256(SCRIPT)}`,
  `style-src ${sha256(STYLE)}`,
  "connect-src 'self'",
  "img-src 'self' data:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const BODY = Buffer.from(HTML, 'utf8');

export function handleUi(req: IncomingMessage, res: ServerResponse): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(400, 'bad_request', `method ${req.method} not allowed here; use GET`);
  res.writeHead(200, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': BODY.length,
    'content-security-policy': UI_CSP,
    'x-content-type-options': 'nosniff',
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cache-control': 'no-cache',
  });
  res.end(req.method === 'HEAD' ? undefined : BODY);
}
