"""Text from PowerShell and WMI in any encoding Windows writes; product names normalised to compare."""

from __future__ import annotations

import codecs
import sys
import unicodedata

DEFAULT_CODE_PAGE = "cp437"  # the OEM code page of an en-US system locale
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE: it starts with the same two bytes
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode(data: bytes, code_page: str = DEFAULT_CODE_PAGE) -> str:
    """Bytes as text: a byte order mark, else UTF-16 by its zero bytes, else UTF-8, else ``code_page``."""
    # PowerShell writes UTF-8 when the script could set the console's encoding, the OEM code page
    # when it could not (no console: a service), and UTF-16 when a host redirects it that way.
    # Characters a code page cannot hold are already lost when they arrive ("?"), which is why the
    # collection script escapes every non-ASCII character before writing.
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data[len(bom) :].decode(encoding, errors="replace")
    zeros = data.count(0)
    if len(data) >= 2 and zeros and zeros >= len(data) // 4:  # ASCII text in UTF-16: every other byte 0
        encoding = "utf-16-le" if data[1] == 0 and data[0] != 0 else "utf-16-be"
        return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode(_known(code_page), errors="replace")


def _known(code_page: str) -> str:
    try:
        return codecs.lookup(code_page).name
    except LookupError:
        return DEFAULT_CODE_PAGE


def oem_code_page() -> str:
    """The host's OEM code page (PowerShell's console encoding when it cannot switch to UTF-8)."""
    if sys.platform == "win32":
        import ctypes

        return _known(f"cp{ctypes.windll.kernel32.GetOEMCP()}")
    return DEFAULT_CODE_PAGE


def nfc(text: str) -> str:
    """Text in Unicode normal form C (cp1258 and some WMI providers give decomposed Vietnamese)."""
    return unicodedata.normalize("NFC", text)


def name_key(name: str) -> str:
    """What makes two product names the same product: NFC, case and whitespace ignored."""
    return " ".join(nfc(name).casefold().split())
