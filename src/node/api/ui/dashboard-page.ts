/**
 * The dashboard every agent serves at /ui: a static page, its script and its styles, no framework and no build
 * step (about 10 kB). The script reads this agent's own replica through the read-only API with the session
 * cookie, and redraws when the event stream (`/v1/events?follow=true`) says something changed: no polling storm.
 */

export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Mycel</title>
<link rel="stylesheet" href="/ui/app.css">
<script type="module" src="/ui/app.js"></script>
</head>
<body>
<header>
  <h1>Mycel <span id="agent" aria-label="this agent"></span></h1>
  <p id="state" role="status" aria-live="polite">loading…</p>
</header>
<nav aria-label="sections"><a href="#devices">Devices</a> <a href="#jobs">Jobs</a> <a href="#copies">Copies</a> <a href="#events">Events</a></nav>
<main>
  <section id="login" hidden>
    <h2>Log in</h2>
    <p>This page reads the mesh through the agent's API. Run <code>meshctl ui</code> on the device (or
    <code>meshctl ui --print-url</code>) and open the link it gives: it logs this browser in for 12 hours.</p>
  </section>
  <section id="devices" aria-labelledby="devices-h"><h2 id="devices-h">Devices</h2>
    <table><thead><tr><th scope="col">Name</th><th scope="col">Liveness</th><th scope="col">Eligibility</th><th scope="col">Copies</th><th scope="col">CPU</th><th scope="col">Memory</th><th scope="col">Drivers</th><th scope="col">Labels</th></tr></thead><tbody></tbody></table>
  </section>
  <section id="jobs" aria-labelledby="jobs-h"><h2 id="jobs-h">Jobs</h2>
    <table><thead><tr><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Version</th><th scope="col">Copies</th><th scope="col">Why</th></tr></thead><tbody></tbody></table>
  </section>
  <section id="copies" aria-labelledby="copies-h"><h2 id="copies-h">Copies by device</h2><div class="groups"></div></section>
  <section id="events" aria-labelledby="events-h"><h2 id="events-h">Events</h2><ol reversed></ol></section>
</main>
</body>
</html>
`;

export const DASHBOARD_CSS = `
:root { color-scheme: light dark; --ok: #2e7d32; --warn: #b26a00; --bad: #c62828; --muted: #777; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0 auto; max-width: 72rem; padding: 0 1rem 2rem; }
header { display: flex; flex-wrap: wrap; align-items: baseline; gap: 1rem; }
h1 { font-size: 1.4rem; margin: 1rem 0 0; } h1 span { font-size: 0.9rem; color: var(--muted); font-weight: normal; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 0.5rem; }
nav a { margin-right: 1rem; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 0.25rem 0.5rem; border-bottom: 1px solid #8884; vertical-align: top; }
td.alive, td.running, td.healthy, td.complete { color: var(--ok); }
td.suspect, td.pending, td.starting, td.degraded, td.drained { color: var(--warn); }
td.lost, td.failed, td.left, td.unhealthy, td.rejected { color: var(--bad); }
.groups { display: grid; grid-template-columns: repeat(auto-fill, minmax(16rem, 1fr)); gap: 0.75rem; }
.groups section { border: 1px solid #8884; border-radius: 6px; padding: 0.5rem; }
.groups h3 { font-size: 1rem; margin: 0 0 0.25rem; }
.groups ul { margin: 0; padding-left: 1.1rem; }
ol { list-style: none; padding-left: 0; max-height: 24rem; overflow-y: auto; font-family: ui-monospace, monospace; font-size: 12px; }
.muted { color: var(--muted); }
@media (max-width: 40rem) { td:nth-child(n+5), th:nth-child(n+5) { display: none; } }
`;

export const DASHBOARD_JS = `
const $ = (selector) => document.querySelector(selector);
const text = (value) => document.createTextNode(value == null ? '' : String(value));
let lastSeq = 0;
let redraw;

class LoginNeeded extends Error {}

async function get(path) {
  const res = await fetch(path, { credentials: 'same-origin', headers: { accept: 'application/json' } });
  if (res.status === 401) throw new LoginNeeded();
  if (!res.ok) throw new Error(path + ': ' + res.status);
  return res.json();
}

function cell(value, cls) {
  const td = document.createElement('td');
  td.append(text(value));
  if (cls) td.className = cls;
  return td;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows.map((cells) => {
    const tr = document.createElement('tr');
    tr.append(...cells);
    return tr;
  }));
}

const cores = (m) => (m / 1000).toFixed(m % 1000 ? 1 : 0) + ' cores';
const mem = (mb) => (mb >= 1024 ? (mb / 1024).toFixed(1) + ' GB' : mb + ' MB');
const labels = (l) => Object.entries(l).map(([k, v]) => k + '=' + v).join(', ');

async function draw() {
  try {
    const [status, nodes, jobs, copies] = await Promise.all([
      get('/v1/status'), get('/v1/nodes'), get('/v1/jobs'), get('/v1/allocs'),
    ]);
    $('#login').hidden = true;
    $('#agent').replaceChildren(text(status.name + ' · ' + status.version));
    const running = (peerId) => copies.filter((c) => c.node === peerId && c.state === 'running').length;
    nodes.sort((a, b) => a.name.localeCompare(b.name));
    fill($('#devices tbody'), nodes.map((n) => [
      cell(n.self ? n.name + ' (this agent)' : n.name),
      cell(n.liveness, n.liveness),
      cell(n.eligible === false ? 'drained' : 'eligible', n.eligible === false ? 'drained' : ''),
      cell(running(n.peerId)),
      cell(cores(n.cpu)), cell(mem(n.memory)), cell(n.drivers.join(', ')), cell(labels(n.labels)),
    ]));
    jobs.sort((a, b) => a.name.localeCompare(b.name));
    fill($('#jobs tbody'), jobs.map((j) => [
      cell(j.name), cell(j.status, j.status), cell(j.version),
      cell(j.copies ? j.copies.running + '/' + j.copies.wanted : '-'),
      cell([j.rollout, j.reason].filter(Boolean).join('; ')),
    ]));
    const groups = nodes.map((n) => {
      const mine = copies.filter((c) => c.node === n.peerId && c.desired !== 'finished');
      const section = document.createElement('section');
      section.dataset.node = n.name;
      const h = document.createElement('h3');
      h.append(text(n.name));
      const list = document.createElement('ul');
      list.append(...mine.map((c) => {
        const li = document.createElement('li');
        li.dataset.alloc = c.allocId;
        li.append(text(c.allocId + ' · ' + (c.state ?? 'placed')));
        return li;
      }));
      if (mine.length === 0) list.append(Object.assign(document.createElement('li'), { className: 'muted', textContent: 'no copies' }));
      section.append(h, list);
      return section;
    });
    $('#copies .groups').replaceChildren(...groups);
    $('#state').textContent = 'live · ' + new Date().toLocaleTimeString();
  } catch (err) {
    if (err instanceof LoginNeeded) {
      $('#login').hidden = false;
      $('#state').textContent = 'not logged in';
      return false;
    }
    $('#state').textContent = 'cannot reach the agent: ' + err.message;
  }
  return true;
}

function later() {
  clearTimeout(redraw);
  redraw = setTimeout(draw, 300);
}

function addEvent(e) {
  const li = document.createElement('li');
  const subject = e.allocId || (e.job ? e.job + (e.version ? ' v' + e.version : '') : e.nodeName || e.node);
  li.append(text(new Date(e.at).toLocaleTimeString() + ' ' + e.kind + ' ' + subject +
    (e.nodeName && !e.allocId ? '' : e.nodeName ? ' on ' + e.nodeName : '') + (e.reason ? ': ' + e.reason : '')));
  const list = $('#events ol');
  list.prepend(li);
  while (list.children.length > 200) list.lastChild.remove();
}

/** The event stream drives the redraws; it reconnects with backoff and resumes after the last event seen. */
async function follow(wait = 1000) {
  try {
    const res = await fetch('/v1/events?follow=true&after=' + lastSeq, { credentials: 'same-origin' });
    if (res.status === 401) return;
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    let pending = '';
    wait = 1000;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      const lines = (pending + value).split('\\n');
      pending = lines.pop();
      for (const line of lines) {
        if (!line) continue;
        const e = JSON.parse(line);
        if (e.error) break;
        lastSeq = e.seq;
        addEvent(e);
        later();
      }
    }
  } catch {}
  $('#state').textContent = 'reconnecting…';
  setTimeout(() => follow(Math.min(wait * 2, 30000)), wait);
}

draw().then((ok) => { if (ok) follow(); });
// Liveness ages without events (a quiet device turns suspect on this agent's clock): a slow redraw covers it.
setInterval(draw, 15000);
`;
