"""Kept only for ``core/ports.py`` (``from core.wizard import Draft``) until the ports are
split per feature: the draft lives in :mod:`core.organizer.draft`, the wizard's dialogue in
``handlers/wizard``. Import from there."""

from core.organizer.draft import Draft

__all__ = ["Draft"]
