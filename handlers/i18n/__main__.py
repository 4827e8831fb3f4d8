"""``python -m handlers.i18n extract|update|compile|check|untranslated [LANG...]``.

* ``extract``: write ``handlers/locales/messages.pot`` from ``handlers.texts.TEXTS``;
* ``update [LANG...]``: extract, then merge into each catalog (``init`` a new language the
  same way: ``update pt`` creates ``handlers/locales/pt/LC_MESSAGES/messages.po``);
* ``compile [LANG...]``: write ``messages.mo`` files (optional; the bot compiles at start-up);
* ``check`` / ``untranslated [LANG...]``: list every missing, fuzzy, outdated or
  placeholder-mismatched entry; exits 1 if there is one.
"""

from __future__ import annotations

import sys

from handlers import i18n
from handlers.i18n import catalog


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in {"extract", "update", "compile", "check", "untranslated"}:
        print(__doc__)
        return 2
    command, codes = args[0], args[1:] or [c for c in i18n.LANGUAGES if c != i18n.DEFAULT]
    if command == "extract":
        pot = catalog.extract()
        print(f"{catalog.POT_PATH}: {len(pot)} entries")
        return 0
    if command == "update":
        pot = catalog.extract()
        for path in catalog.update(codes, pot=pot):
            print(f"updated {path}")
        return 0
    if command == "compile":
        for path in catalog.compile_all(codes):
            print(f"compiled {path}")
        return 0
    found = [p for code in codes for p in catalog.problems(code)]
    for problem in found:
        print(problem)
    print(f"{len(found)} entries to translate or fix in {', '.join(codes)}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
