// The "Verify a bundle" panel: a ZIP dropped or chosen, a verifier key pasted or picked from
// the keys saved in localStorage, every check shown in words, green or red. No server call.
import { verifyBundle } from './bundle.js';
import { t } from './i18n.js';

const SAVED = 'temoin.keys';
const MARK = { OK: '✔ OK', WARN: '⚠ WARN', KO: '✘ KO' };

function savedKeys() {
  try { return JSON.parse(localStorage.getItem(SAVED) || '[]'); } catch { return []; }
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'text') node.textContent = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

/** What a v1.1 bundle's tokens and cosignatures establish here, one sentence each (as the
 * command's verdict, except that tokens are not verified in the browser). */
function trustSentences(report) {
  const s = report.trust;
  if (!s || report.format !== 'temoin.bundle/v1.1') return [];
  const out = s.tokens.map((tk) => t('tokenUnchecked').replace('{path}', tk.path).replace('{tsa}', tk.url));
  if (!s.tokens.length) out.push(t('noToken'));
  if (s.witnessesGiven) {
    out.push(t('cosignedBy').replace('{got}', s.cosigned.length).replace('{given}', s.witnessesGiven)
      + (s.cosigned.length ? ` (${s.cosigned.map(([n, when]) => `${n} ${when}`).join(', ')})` : ''));
  } else if (s.unchecked.length) {
    out.push(t('cosigsUnchecked').replace('{n}', s.unchecked.length).replace('{names}', s.unchecked.join(', ')));
  } else {
    out.push(t('noWitness'));
  }
  return out;
}

/** Render the panel into `root` (an empty element). */
export function mountVerifier(root) {
  root.replaceChildren();
  const file = el('input', { type: 'file', id: 'bundle-file', accept: '.zip,application/zip' });
  const drop = el('div', { class: 'drop', id: 'drop', tabindex: '0', role: 'button', 'aria-describedby': 'drop-help' },
    el('span', { id: 'drop-help', text: t('dropHere') }));
  const key = el('textarea', { id: 'trusted-key', rows: '2', spellcheck: 'false', autocomplete: 'off' });
  const pick = el('select', { id: 'saved-keys' });
  const save = el('button', { type: 'button', id: 'save-key', text: t('saveKey') });
  const witnesses = el('textarea', { id: 'witness-keys', rows: '2', spellcheck: 'false', autocomplete: 'off', 'aria-describedby': 'witness-help' });
  const quorum = el('input', { type: 'number', id: 'quorum', min: '0', step: '1', inputmode: 'numeric' });
  const run = el('button', { type: 'submit', id: 'run-verify', class: 'primary', text: t('run') });
  // v1.1 bundles: what the browser checks of their tokens and cosignatures, said up front.
  const v11 = el('p', { id: 'v11-note', class: 'help', text: t('v11Note') });
  const trust = el('ul', { id: 'trust-summary', class: 'trust' });
  const verdict = el('p', { id: 'verdict', role: 'status', 'aria-live': 'polite' });
  const list = el('ol', { id: 'checks', class: 'checks' });
  const form = el('form', { id: 'verify-form' },
    el('label', { for: 'bundle-file', text: t('bundleFile') }), file, drop,
    el('label', { for: 'trusted-key', text: t('trustedKey') }), key,
    el('label', { for: 'saved-keys', text: t('savedKeys') }), pick, save,
    el('label', { for: 'witness-keys', text: t('witnessKeys') }), witnesses,
    el('p', { id: 'witness-help', class: 'help', text: t('witnessHelp') }),
    el('label', { for: 'quorum', text: t('quorum') }), quorum, v11, run);
  root.append(form, verdict, trust, list);

  let chosen = null;
  const fillSaved = () => {
    pick.replaceChildren(el('option', { value: '', text: '—' }));
    for (const k of savedKeys()) pick.append(el('option', { value: k, text: k.split('+')[0] + ' ' + k.split('+')[1] }));
  };
  fillSaved();
  pick.addEventListener('change', () => { if (pick.value) key.value = pick.value; });
  save.addEventListener('click', () => {
    const value = key.value.trim();
    if (!value) return;
    const keys = savedKeys().filter((k) => k !== value);
    try { localStorage.setItem(SAVED, JSON.stringify([value, ...keys])); } catch { /* file:// */ }
    fillSaved();
  });
  file.addEventListener('change', () => { chosen = file.files[0] || null; drop.firstChild.textContent = chosen ? chosen.name : t('dropHere'); });
  drop.addEventListener('click', () => file.click());
  drop.addEventListener('keydown', (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); file.click(); } });
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    chosen = e.dataTransfer.files[0] || null;
    if (chosen) drop.firstChild.textContent = chosen.name;
  });
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    if (!chosen) { verdict.textContent = t('dropHere'); return; }
    verdict.className = '';
    verdict.textContent = '…';
    list.replaceChildren();
    trust.replaceChildren();
    const started = performance.now();
    const given = witnesses.value.split('\n').map((k) => k.trim()).filter(Boolean);
    const need = quorum.value.trim() === '' ? null : Number(quorum.value);
    const report = await verifyBundle(chosen, key.value.trim() || null, { witnesses: given, quorum: need });
    const ms = Math.round(performance.now() - started);
    for (const c of report.checks) {
      const li = el('li', { class: c.status.toLowerCase(), 'data-status': c.status, 'data-place': c.place },
        el('strong', { text: MARK[c.status] }), ' ',
        el('code', { text: c.place }), `: ${c.name}`);
      if (c.detail) li.append(el('span', { class: 'detail', text: ` — ${c.detail}` }));
      list.append(li);
    }
    const failures = report.failures.length;
    const ok = report.ok;
    verdict.className = ok ? 'verdict ok' : 'verdict ko';
    verdict.dataset.ok = String(ok);
    verdict.dataset.ms = String(ms);
    // The members that fail, first: a long list of green lines must not hide them.
    const places = [...new Set(report.failures.map((c) => c.place))];
    const named = places.length ? ` ${t('failing')}: ${places.slice(0, 8).join(', ')}${places.length > 8 ? ', …' : ''}.` : '';
    verdict.textContent = `${ok ? (report.trustedKey ? t('okVerdict') : t('noKeyVerdict')) : t('koVerdict')}${named} `
      + `(${report.checks.length} ${t('checks')}, ${failures} ${t('failed')}`
      + `${report.warnings.length ? `, ${report.warnings.length} ${t('warned')}` : ''}; ${ms} ms)`;
    for (const sentence of trustSentences(report)) trust.append(el('li', { text: sentence }));
    window.temoinLastReport = { ok, ms, checks: report.checks, timings: report.timings, format: report.format, trust: report.trust };
  });
}
