"""The lesson player: a Textual app over the same public API the CLI uses.

Layers, as in posting and harlequin: :mod:`forklab.tui.state`,
:mod:`forklab.tui.views` and :mod:`forklab.tui.progress` are plain Python (the
session, what the panels show, what the learner did); ``widgets/`` draw views
and post :mod:`forklab.tui.messages`; ``screens/`` turn keys into session
changes; :func:`make_app` builds the app. Only the app, its screens, widgets and
messages import Textual, and only when the player starts.
"""
from __future__ import annotations

from typing import Any


def make_app(*args: Any, **kwargs: Any) -> Any:
    """See :func:`forklab.tui.app.make_app` (imported lazily: Textual is heavy)."""
    from forklab.tui.app import make_app as build
    return build(*args, **kwargs)


__all__ = ["make_app"]
