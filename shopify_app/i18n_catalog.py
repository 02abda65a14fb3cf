"""The message catalog kept in step with the code: extract every translatable string, update the .pot and each language's .po.

`python -m shopify_app.i18n_catalog` does what `pybabel extract` + `pybabel update` would, with the
project's keywords (`_l` is lazy_gettext) and babel.cfg's sources; the tests call `extract_messages`
to check that every string has a translation.
"""
from __future__ import annotations

from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po, write_po

from .i18n import LANGUAGES, TRANSLATIONS_DIR

ROOT = Path(__file__).resolve().parent.parent
KEYWORDS = {**DEFAULT_KEYWORDS, "lazy_gettext": None, "_l": None, "lazy_ngettext": (1, 2)}


def extract_messages(root: Path = ROOT) -> Catalog:
    """Every translatable string of the sources babel.cfg names (Python and Jinja templates)."""
    with (root / "babel.cfg").open(encoding="utf-8") as cfg:
        method_map, options_map = parse_mapping_cfg(cfg)
    catalog = Catalog(project="Dropship Ops", msgid_bugs_address=None, charset="utf-8")
    for filename, lineno, message, comments, context in extract_from_dir(str(root), method_map, options_map, keywords=KEYWORDS,
                                                                      comment_tags=("TRANSLATORS:",), strip_comment_tags=True):
        catalog.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    return catalog


def update_catalogs(directory: Path = TRANSLATIONS_DIR) -> None:
    """Write messages.pot and merge it into each language's messages.po (new strings empty, gone ones obsolete)."""
    template = extract_messages()
    with (directory / "messages.pot").open("wb") as out:
        write_po(out, template, width=120, sort_output=True)
    for lang in LANGUAGES:
        po = directory / lang / "LC_MESSAGES" / "messages.po"
        if not po.exists():
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=lang)
        catalog.update(template, no_fuzzy_matching=True)
        with po.open("wb") as out:
            write_po(out, catalog, width=120, sort_output=True, ignore_obsolete=True)


if __name__ == "__main__":
    update_catalogs()
