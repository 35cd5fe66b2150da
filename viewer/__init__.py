"""The web viewer (docs/VIEWER.md): static HTML, CSS and ES modules served by `temoin serve`
at `/`, and the single-file offline bundle verifier that `temoin viewer --out` writes."""

from __future__ import annotations

import re
from pathlib import Path

STATIC = Path(__file__).parent / "static"

# The verifier's modules in dependency order: each only imports from those before it.
_VERIFIER_MODULES = ("note.js", "merkle.js", "zip.js", "trust.js", "bundle.js", "i18n.js",
                     "verify-ui.js", "verify-main.js")
_IMPORT = re.compile(r"^import [^;]*;\n", re.MULTILINE)
_EXPORT = re.compile(r"^export (?=(async )?function|class|const|let)", re.MULTILINE)


def single_file_verifier() -> str:
    """verify.html with its CSS and modules inlined: one file that works opened from disk
    (file://), with no server and no network. The modules are joined into one module script:
    their imports are dropped (every name is then in the one scope) and `export` removed."""
    html = (STATIC / "verify.html").read_text(encoding="utf-8")
    css = (STATIC / "style.css").read_text(encoding="utf-8")
    parts = []
    for name in _VERIFIER_MODULES:
        code = (STATIC / "js" / name).read_text(encoding="utf-8")
        parts.append(f"// ---- {name}\n" + _EXPORT.sub("", _IMPORT.sub("", code)))
    script = "\n".join(parts).replace("</script", "<\\/script")
    html = html.replace('<link rel="stylesheet" href="/viewer/style.css">',
                        f"<style>\n{css}</style>")
    return html.replace('<script type="module" src="/viewer/js/verify-main.js"></script>',
                        f'<script type="module">\n{script}</script>')
