"""The translation catalogues under locale/, compiled when their .po is newer than their .mo."""

from __future__ import annotations

from pathlib import Path


def stale_catalogues(locale_dir: Path) -> list[tuple[Path, Path]]:
    """(.po, .mo) pairs under locale_dir whose .mo is missing or older than its .po."""
    pairs = []
    for po in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if not mo.exists() or mo.stat().st_mtime < po.stat().st_mtime:
            pairs.append((po, mo))
    return pairs


def compile_translations(locale_dir: Path) -> list[Path]:
    import polib

    compiled = []
    for po, mo in stale_catalogues(locale_dir):
        polib.pofile(str(po)).save_as_mofile(str(mo))
        compiled.append(mo)
    return compiled
