// The page's language: French by default (as the reports), English by ?lang=en, by the toggle
// (remembered in localStorage) or by an English navigator.language.
const STRINGS = {
  fr: {
    title: 'Témoin — visionneuse', signin: 'Se connecter', signout: 'Se déconnecter',
    keyLabel: "Clé d'accès (Access key)", keyHelp: "Collez la clé d'accès que l'on vous a remise. Elle reste dans cet onglet (sessionStorage), jamais dans une adresse.",
    cases: 'Dossiers', log: 'Journal', verify: 'Vérifier un bundle', lang: 'English',
    search: 'Rechercher', status: 'Statut', any: 'Tous', open: 'ouvert', closed: 'clos', next: 'Suivants',
    listUnavailable: "La liste des dossiers n'est pas disponible sur ce serveur ; ouvrez un dossier par son identifiant.",
    caseId: 'Identifiant du dossier', openCase: 'Ouvrir', clocks: 'Délais légaux', timeline: 'Chronologie',
    deadline: 'Échéance', lastDay: 'Dernier jour', rule: 'Règle', late: 'enregistré en retard',
    erased: 'Champs personnels (engagements)', erasedTag: 'effacé', evidence: 'Pièces', reportPdf: 'Rapport PDF', bundle: 'Bundle (ZIP)',
    logSize: 'Taille du journal', checkpoint: 'Checkpoint signé', serverKey: 'Clé publiée par le serveur',
    yourKey: 'Votre clé de vérification (obtenue ailleurs)', check: 'Vérifier', cosigs: 'Cosignatures (témoins)',
    timestamps: 'Horodatages RFC 3161', dropHere: 'Déposez le fichier ZIP du bundle ici, ou choisissez-le',
    bundleFile: 'Fichier du bundle (ZIP)', trustedKey: 'Clé de vérification du journal (celle en laquelle vous avez confiance)',
    savedKeys: 'Clés enregistrées', saveKey: 'Enregistrer cette clé', run: 'Vérifier dans le navigateur',
    okVerdict: 'VALIDE : chaque vérification a réussi avec la clé que vous avez fournie.',
    koVerdict: 'ÉCHEC : ne vous fiez pas à ce bundle.', noKeyVerdict: "Intègre, mais aucune clé de confiance n'a été fournie : cela ne prouve pas qui l'a signé.",
    error: 'Erreur', back: 'Retour', none: 'aucun', signedBy: 'signature', valid: 'valide', invalid: 'invalide',
    opened: 'Ouvert le', closedAt: 'Clos le', entries: 'Entrées', checks: 'vérifications', failed: 'en échec', warned: 'avertissement(s)',
    witnessKeys: 'Clés des témoins (facultatif, une par ligne)', quorum: 'Quorum (facultatif : par défaut, tous les témoins donnés)',
    witnessHelp: "Pour un bundle v1.1 : la clé de vérification de chaque témoin en qui vous avez confiance, obtenue auprès de lui (pas dans le ZIP). Sans clé, les cosignatures sont listées, non vérifiées.",
    v11Note: "Bundles temoin.bundle/v1.1 : les jetons d'horodatage RFC 3161 (timestamps/*.tsr) sont listés et leur empreinte SHA-256 est vérifiée contre le manifeste signé, mais leur signature par l'autorité d'horodatage n'est PAS vérifiée dans le navigateur : vérifiez-la avec « temoin verify BUNDLE.zip --tsa-roots racine-tsa.pem » ou « openssl ts -verify -data checkpoint.txt -in timestamps/… .tsr -CAfile racine-tsa.pem ».",
    tokenUnchecked: "Jeton {path} (de {tsa}) : intègre, mais NON vérifié dans le navigateur ; vérifiez sa signature avec temoin verify --tsa-roots ou openssl ts -verify.",
    noToken: "Aucune date de confiance : le bundle ne contient aucun jeton RFC 3161.",
    cosignedBy: 'Témoins : cosigné par {got} des {given} témoins que vous avez donnés',
    cosigsUnchecked: "Témoins : {n} cosignature(s) dans checkpoint.cosigned.txt ({names}), NON vérifiées (donnez la clé de chaque témoin en qui vous avez confiance).",
    noWitness: "Aucun témoin : le bundle ne contient aucune cosignature.", failing: 'En cause', clock: 'Délai', caseCol: 'Dossier',
  },
  en: {
    title: 'Témoin — viewer', signin: 'Sign in', signout: 'Sign out',
    keyLabel: "Access key (Clé d'accès)", keyHelp: 'Paste the access key you were given. It stays in this tab (sessionStorage), never in an address.',
    cases: 'Cases', log: 'Log', verify: 'Verify a bundle', lang: 'Français',
    search: 'Search', status: 'Status', any: 'Any', open: 'open', closed: 'closed', next: 'Next',
    listUnavailable: 'The case list is unavailable on this server; open a case by its id.',
    caseId: 'Case id', openCase: 'Open', clocks: 'Legal clocks', timeline: 'Timeline',
    deadline: 'Deadline', lastDay: 'Last day', rule: 'Rule', late: 'recorded late',
    erased: 'Personal fields (commitments)', erasedTag: 'erased', evidence: 'Evidence', reportPdf: 'Report PDF', bundle: 'Bundle (ZIP)',
    logSize: 'Log size', checkpoint: 'Signed checkpoint', serverKey: 'Key published by the server',
    yourKey: 'Your verifier key (obtained elsewhere)', check: 'Check', cosigs: 'Cosignatures (witnesses)',
    timestamps: 'RFC 3161 timestamps', dropHere: 'Drop the bundle ZIP here, or choose it',
    bundleFile: 'Bundle file (ZIP)', trustedKey: "The log's verifier key (the one you trust)",
    savedKeys: 'Saved keys', saveKey: 'Save this key', run: 'Verify in the browser',
    okVerdict: 'VALID: every check passed with the key you provided.',
    koVerdict: 'FAILED: do not rely on this bundle.', noKeyVerdict: 'Intact, but no trusted key was given: this does not prove who signed it.',
    error: 'Error', back: 'Back', none: 'none', signedBy: 'signature', valid: 'valid', invalid: 'invalid',
    opened: 'Opened', closedAt: 'Closed', entries: 'Entries', checks: 'checks', failed: 'failed', warned: 'warning(s)',
    witnessKeys: 'Witness keys (optional, one per line)', quorum: 'Quorum (optional: by default, every witness given)',
    witnessHelp: 'For a v1.1 bundle: the verifier key of each witness you trust, obtained from that witness (not from the ZIP). Without keys, cosignatures are listed, not checked.',
    v11Note: 'temoin.bundle/v1.1 bundles: the RFC 3161 time-stamp tokens (timestamps/*.tsr) are listed and their SHA-256 is checked against the signed manifest, but their Time-Stamp Authority signature is NOT checked in the browser: check it with `temoin verify BUNDLE.zip --tsa-roots tsa-root.pem` or `openssl ts -verify -data checkpoint.txt -in timestamps/….tsr -CAfile tsa-root.pem`.',
    tokenUnchecked: 'Token {path} (from {tsa}): intact, but NOT verified in the browser; check its signature with temoin verify --tsa-roots or openssl ts -verify.',
    noToken: 'No trusted time: the bundle carries no RFC 3161 time-stamp token.',
    cosignedBy: 'Witnesses: cosigned by {got} of the {given} witnesses you gave',
    cosigsUnchecked: 'Witnesses: {n} cosignature(s) in checkpoint.cosigned.txt ({names}), NOT checked (give the key of each witness you trust).',
    noWitness: 'No witness: the bundle carries no witness cosignature.', failing: 'Failing', clock: 'Clock', caseCol: 'Case',
  },
};

function pick() {
  const asked = new URLSearchParams(location.search).get('lang');
  if (asked === 'fr' || asked === 'en') return asked;
  let saved = null;
  try { saved = localStorage.getItem('temoin.lang'); } catch { /* file:// may refuse storage */ }
  if (saved === 'fr' || saved === 'en') return saved;
  return (navigator.language || 'fr').toLowerCase().startsWith('en') ? 'en' : 'fr';
}

export let lang = pick();

export function t(key) { return STRINGS[lang][key] ?? key; }

export function setLang(value) {
  lang = value;
  try { localStorage.setItem('temoin.lang', value); } catch { /* ignore */ }
}

/** Fill every [data-t] element with its string, and <html lang>. */
export function applyStrings(root = document) {
  document.documentElement.lang = lang;
  for (const el of root.querySelectorAll('[data-t]')) el.textContent = t(el.dataset.t);
}

/** A date in the reader's language, in Europe/Paris and in UTC. */
export function formatDate(iso) {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const locale = lang === 'fr' ? 'fr-FR' : 'en-GB';
  const opts = { dateStyle: 'medium', timeStyle: 'short' };
  const paris = new Intl.DateTimeFormat(locale, { ...opts, timeZone: 'Europe/Paris' }).format(d);
  const utc = new Intl.DateTimeFormat(locale, { ...opts, timeZone: 'UTC' }).format(d);
  return `${paris} (Paris) · ${utc} UTC`;
}
