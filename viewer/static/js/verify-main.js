// The standalone verifier page (verify.html and `temoin viewer --out verify.html`).
import { applyStrings, lang, setLang } from './i18n.js';
import { mountVerifier } from './verify-ui.js';

function start() {
  applyStrings();
  mountVerifier(document.getElementById('verifier'));
}
document.getElementById('lang-toggle').addEventListener('click', () => {
  setLang(lang === 'fr' ? 'en' : 'fr');
  start();
});
start();
