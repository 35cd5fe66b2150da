// The viewer served at `/`: sign in with an access key (kept in sessionStorage, never in a
// URL), cases, a case's timeline and legal clocks, the log and its checkpoint checked in the
// browser, and the bundle verifier. Every request goes to this page's own origin.
import { applyStrings, formatDate, lang, setLang, t } from './i18n.js';
import { hex, parseNote, parseVerifierKey, verifyCheckpoint } from './note.js';
import { mountVerifier } from './verify-ui.js';

const TOKEN = 'temoin.token';
const $ = (id) => document.getElementById(id);
const token = () => sessionStorage.getItem(TOKEN);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

class HttpError extends Error {
  constructor(status, detail) { super(detail); this.status = status; }
}

async function api(path, { accept = 'application/json', raw = false } = {}) {
  const r = await fetch(path, { headers: { Authorization: `Bearer ${token()}`, Accept: accept } });
  if (!r.ok) {
    let detail = r.statusText;
    try { detail = (await r.json()).detail || detail; } catch { /* not problem+json */ }
    throw new HttpError(r.status, detail);
  }
  if (raw) return r;
  return accept === 'application/json' ? r.json() : r.text();
}

function show(id) {
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== id;
  const heading = $(id).querySelector('h2');
  if (heading) { heading.tabIndex = -1; heading.focus(); }
}

function showError(exc) {
  const status = exc instanceof HttpError ? exc.status : 0;
  $('error-status').textContent = status ? `${t('error')} ${status}` : t('error');
  $('error-detail').textContent = exc.message;
  show('error');
  if (status === 401) { sessionStorage.removeItem(TOKEN); renderSignedIn(); }
}

async function download(path, accept, filename) {
  const r = await api(path, { accept, raw: true });
  const blob = await r.blob();
  const url = URL.createObjectURL(blob);
  const a = el('a', { href: url, download: filename });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

// ------------------------------------------------------------------ cases

let cursor = null;

async function loadCases(reset = true) {
  if (reset) cursor = null;
  const params = new URLSearchParams({ limit: '50' });
  if ($('case-q').value) params.set('q', $('case-q').value);
  if ($('case-status').value) params.set('status', $('case-status').value);
  if (cursor) params.set('cursor', cursor);
  const body = $('case-rows');
  if (reset) body.replaceChildren();
  let page;
  try {
    page = await api(`/v1/cases?${params}`);
  } catch (exc) {
    if (exc instanceof HttpError && [404, 405].includes(exc.status)) {
      $('list-unavailable').hidden = false;
      $('case-table').hidden = true;
      $('case-filters').hidden = true;
      return;
    }
    throw exc;
  }
  $('list-unavailable').hidden = true;
  for (const item of page.items) {
    const link = el('a', { href: `#/case/${encodeURIComponent(item.case)}`, text: item.case });
    body.append(el('tr', {}, el('td', {}, link), el('td', { text: t(item.status) }),
      el('td', { text: String(item.entries) }), el('td', { text: formatDate(item.opened_at) }),
      el('td', { text: formatDate(item.closed_at) })));
  }
  cursor = page.next_cursor;
  $('case-next').hidden = !cursor;
}

// ------------------------------------------------------------------ a case

async function evidenceLink(ref) {
  const box = el('figure', { class: 'evidence' });
  const caption = el('figcaption', { text: `${ref.role || ''} ${ref.sha256.slice(0, 12)}… (${ref.size} B)` });
  try {
    const r = await api(`/v1/evidence/${ref.sha256}`, { accept: '*/*', raw: true });
    const blob = await r.blob();
    const url = URL.createObjectURL(blob);
    if (blob.type.startsWith('image/')) {
      box.append(el('img', { src: url, alt: `${ref.role || 'evidence'} ${ref.sha256.slice(0, 12)}`, loading: 'lazy' }));
    } else {
      box.append(el('a', { href: url, download: ref.sha256, text: blob.type || 'file' }));
    }
  } catch (exc) {
    box.append(el('span', { class: 'muted', text: `${exc.status || ''} ${exc.message}` }));
  }
  box.append(caption);
  return box;
}

async function openCase(caseId) {
  const view = await api(`/v1/cases/${encodeURIComponent(caseId)}/timeline`);
  $('case-title').textContent = `${view.case} — ${t(view.status)}`;
  $('case-meta').textContent = `${t('opened')} ${formatDate(view.opened_at)}`
    + (view.closed_at ? ` · ${t('closedAt')} ${formatDate(view.closed_at)}` : '')
    + ` · ${t('entries')}: ${view.entries.length} · log ${view.log} (size ${view.as_of_size})`;
  const clocks = $('clock-rows');
  clocks.replaceChildren();
  for (const c of view.clocks) {
    clocks.append(el('tr', { class: `clock ${c.status}`, 'data-clock': c.name },
      el('td', { text: c.label || c.name }), el('td', {}, el('span', { class: `badge ${c.status}`, text: c.status })),
      el('td', { text: c.last_day }), el('td', { text: formatDate(c.deadline) }),
      el('td', { text: Array.isArray(c.rule) ? c.rule.join(', ') : String(c.rule) }),
      el('td', { text: c.explanation })));
  }
  const rows = $('timeline-rows');
  rows.replaceChildren();
  // Crypto-shredding (PersonalDataErased) destroys the values; the commitments stay.
  const erasedAll = view.entries.some((r) => r.type === 'PersonalDataErased' && !Array.isArray(r.data.fields));
  const erased = new Set(view.entries.filter((r) => r.type === 'PersonalDataErased')
    .flatMap((r) => (Array.isArray(r.data.fields) ? r.data.fields : [])));
  for (const row of view.entries) {
    const item = el('li', { class: row.late ? 'late' : '' },
      el('strong', { text: `#${row.case_seq} ${row.type}` }),
      el('div', { class: 'muted', text: `${formatDate(row.occurred_at)} · ${row.source}` }));
    if (row.late) item.append(el('span', { class: 'badge late', text: `${t('late')} (+${Math.round(row.delay_seconds / 3600)} h)` }));
    if (row.personal_fields.length) {
      const fields = el('div', { class: 'muted personal', text: `${t('erased')}: ` });
      for (const f of row.personal_fields) {
        const gone = erasedAll || erased.has(f);
        fields.append(el('span', { class: gone ? 'erased' : '', 'data-field': f, text: gone ? `${f} (${t('erasedTag')})` : f }), ' ');
      }
      item.append(fields);
    }
    const data = el('details', {}, el('summary', { text: 'data' }), el('pre', { text: JSON.stringify(row.data, null, 2) }));
    item.append(data);
    if (row.evidence.length) {
      const strip = el('div', { class: 'thumbs' });
      item.append(strip);
      for (const ref of row.evidence) evidenceLink(ref).then((f) => strip.append(f));
    }
    rows.append(item);
  }
  $('download-pdf').onclick = () => download(`/v1/cases/${encodeURIComponent(view.case)}/report`, 'application/pdf', `report-${view.case}.pdf`).catch(showError);
  $('download-bundle').onclick = () => download(`/v1/cases/${encodeURIComponent(view.case)}/bundle`, 'application/zip', `bundle-${view.case}.zip`).catch(showError);
  show('case');
}

// ------------------------------------------------------------------ the log

async function checkAgainst(note, keyText, out) {
  out.className = '';
  try {
    const key = await parseVerifierKey(keyText.trim());
    const cp = await verifyCheckpoint(new TextEncoder().encode(note), key);
    out.className = 'ok';
    out.dataset.ok = 'true';
    out.textContent = `✔ ${t('valid')}: ${key.describe}, size ${cp.size}, root ${hex(cp.root)}`;
  } catch (exc) {
    out.className = 'ko';
    out.dataset.ok = 'false';
    out.textContent = `✘ ${t('invalid')}: ${exc.message}`;
  }
}

async function openLog() {
  const [note, serverKey] = await Promise.all([
    api('/v1/log/checkpoint', { accept: 'text/plain' }), api('/v1/log/key', { accept: 'text/plain' })]);
  const parsed = parseNote(new TextEncoder().encode(note));
  const [, size] = parsed.body.split('\n');
  $('log-size').textContent = Number(size).toLocaleString(lang);
  $('log-note').textContent = note;
  $('log-server-key').textContent = serverKey.trim();
  await checkAgainst(note, serverKey, $('log-server-check'));
  const origin = parsed.body.split('\n')[0];
  const cosigs = parsed.signatures.filter((s) => s.name !== origin);
  $('log-cosigs').textContent = cosigs.length
    ? `${cosigs.length}: ${cosigs.map((s) => s.name).join(', ')}` : t('none');
  try {
    const items = await api(`/v1/log/checkpoints?after=${Math.max(-1, Number(size) - 1)}`);
    const stamps = items.length ? (items[0].timestamps || []).length : 0;
    $('log-stamps').textContent = stamps ? String(stamps) : t('none');
  } catch {
    $('log-stamps').textContent = t('none');
  }
  $('log-user-check').textContent = '';
  $('log-user-form').onsubmit = (e) => { e.preventDefault(); checkAgainst(note, $('log-user-key').value, $('log-user-check')); };
  show('log');
}

// ------------------------------------------------------------------ routing

async function route() {
  if (!token()) {
    if (location.hash.startsWith('#/verify')) { show('verify'); return; }
    show('signin');
    return;
  }
  const hash = location.hash || '#/cases';
  try {
    if (hash.startsWith('#/case/')) await openCase(decodeURIComponent(hash.slice(7)));
    else if (hash === '#/log') await openLog();
    else if (hash === '#/verify') show('verify');
    else { show('cases'); await loadCases(); }
  } catch (exc) {
    showError(exc);
  }
}

function renderSignedIn() {
  const signedIn = Boolean(token());
  $('nav-private').hidden = !signedIn;
  $('signout').hidden = !signedIn;
}

function start() {
  applyStrings();
  mountVerifier($('verifier'));
  renderSignedIn();
}

$('signin-form').addEventListener('submit', async (e) => {
  e.preventDefault();
  const value = $('access-key').value.trim();
  if (!value) return;
  sessionStorage.setItem(TOKEN, value);
  $('access-key').value = '';
  try {
    await api('/v1/log/key', { accept: 'text/plain' });  // any valid key may read it
  } catch (exc) {
    sessionStorage.removeItem(TOKEN);
    renderSignedIn();
    showError(exc);
    return;
  }
  renderSignedIn();
  if (location.hash === '#/cases') route(); else location.hash = '#/cases';
});
$('signout').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN);
  renderSignedIn();
  location.hash = '';
  route();
});
$('case-filters').addEventListener('submit', (e) => { e.preventDefault(); loadCases().catch(showError); });
$('case-next').addEventListener('click', () => loadCases(false).catch(showError));
$('open-form').addEventListener('submit', (e) => {
  e.preventDefault();
  const id = $('open-case-id').value.trim();
  if (id) location.hash = `#/case/${encodeURIComponent(id)}`;
});
$('lang-toggle').addEventListener('click', () => {
  setLang(lang === 'fr' ? 'en' : 'fr');
  start();
  route();
});
window.addEventListener('hashchange', route);
start();
route();
