// filesync's page: the file list from /api/files, live change alerts from /events
// (Server-Sent Events: the server pushes each store event; the page never polls), uploads
// through the form (multipart, sent with fetch so the page and its event stream stay), and
// a revert button per kept version.
'use strict';

const $ = (id) => document.getElementById(id);
let lastSeq = 0;

function when(ms) {
  return ms ? new Date(ms).toLocaleString() : '';
}

function row(f) {
  const tr = document.createElement('tr');
  tr.dataset.name = f.name;
  if (f.deleted) tr.className = 'deleted';
  const name = document.createElement('td');
  name.className = 'name';
  name.textContent = f.name + (f.deleted ? ' (deleted)' : '');
  const version = document.createElement('td');
  version.className = 'version';
  version.textContent = 'v' + f.version;
  const changed = document.createElement('td');
  changed.textContent = when(f.last_modified);
  const revs = document.createElement('td');
  for (const v of f.revisions) {
    const b = document.createElement('button');
    b.className = 'revert' + (v === f.version && !f.deleted ? ' current' : '');
    b.textContent = 'v' + v;
    b.dataset.name = f.name;
    b.dataset.version = v;
    b.title = v === f.version && !f.deleted ? 'the current version' : 'restore version ' + v + ' (becomes a new version)';
    if (v !== f.version || f.deleted) b.onclick = () => revert(f.name, v);
    revs.appendChild(b);
  }
  tr.append(name, version, changed, revs);
  return tr;
}

async function load() {
  const r = await fetch('/api/files');
  const j = await r.json();
  $('folder').textContent = j.folder;
  const body = $('files').querySelector('tbody');
  body.replaceChildren(...j.files.map(row));
  $('empty').hidden = j.files.length > 0;
  return j.seq;
}

function alertFor(e) {
  const li = document.createElement('li');
  li.className = e.op;
  li.dataset.seq = e.seq;
  const t = document.createElement('span');
  t.className = 'time';
  t.textContent = new Date(e.time).toLocaleTimeString();
  const what = e.op === 'rename' ? `${e.from} renamed to ${e.name}`
             : e.op === 'delete' ? `${e.name} deleted`
             : `${e.name} is now v${e.version}`;
  li.append(t, document.createTextNode(what));
  $('alerts').prepend(li);
}

async function revert(name, version) {
  const r = await fetch('/api/revert', {
    method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({name, version}),
  });
  const j = await r.json();
  if (!j.ok) window.alert('revert failed: ' + j.error);
  // The new version arrives as an event, like any other change.
}

$('upload').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const status = $('upload-status');
  status.className = '';
  status.textContent = 'uploading…';
  const r = await fetch('/upload', {method: 'POST', body: new FormData(ev.target), headers: {Accept: 'application/json'}});
  const j = await r.json().catch(() => ({ok: false, error: 'HTTP ' + r.status}));
  if (j.ok) {
    status.textContent = `uploaded ${j.name} (${j.size} bytes): it becomes a version when the folder sees it`;
    ev.target.reset();
  } else {
    status.className = 'error';
    status.textContent = 'upload failed: ' + j.error;
  }
});

function listen(after) {
  // Every event carries its store sequence number as the SSE id, so a reconnecting
  // EventSource resumes after the last one it got (Last-Event-ID); the first connection
  // starts after the list it just loaded: no gap, no duplicate.
  const es = new EventSource('/events?after=' + after);
  es.onopen = () => { $('live').textContent = 'live'; $('live').className = 'on'; };
  es.onerror = () => { $('live').textContent = 'reconnecting…'; $('live').className = 'off'; };
  es.addEventListener('change', async (m) => {
    const e = JSON.parse(m.data);
    lastSeq = Math.max(lastSeq, e.seq);
    alertFor(e);
    await load();
    const tr = [...$('files').querySelectorAll('tr')].find((t) => t.dataset.name === e.name);
    if (tr) tr.classList.add('flash');
  });
}

load().then((seq) => { lastSeq = seq; listen(seq); });
