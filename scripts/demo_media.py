"""Real image and PDF files for the demo's evidence, so that each opens in a viewer and its
bytes match the media type it is declared with (JPEG photos, a PNG signature, PDF letters)."""

from __future__ import annotations

import io

from PIL import Image, ImageDraw


def photo(label: str, colour: tuple[int, int, int]) -> bytes:
    """A 320x240 JPEG: a coloured scene with a caption."""
    image = Image.new("RGB", (320, 240), colour)
    draw = ImageDraw.Draw(image)
    draw.rectangle((40, 60, 280, 200), outline=(255, 255, 255), width=4)
    draw.rectangle((0, 210, 320, 240), fill=(0, 0, 0))
    draw.text((8, 218), label.encode("ascii", "replace").decode(), fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def signature() -> bytes:
    """A 300x100 PNG: a pen stroke on white."""
    image = Image.new("L", (300, 100), 255)
    draw = ImageDraw.Draw(image)
    points = [(20 + 13 * i, 60 + ((-1) ** i) * (12 + i % 3 * 7)) for i in range(21)]
    draw.line(points, fill=0, width=3)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def pdf(title: str) -> bytes:
    """A real, minimal one-page PDF."""
    text = title.replace("(", "[").replace(")", "]")
    stream = f"BT /F1 14 Tf 50 780 Td ({text}) Tj ET".encode("latin-1", "replace")
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, obj in enumerate(objs, 1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + obj + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objs) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer << /Size {len(objs) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
