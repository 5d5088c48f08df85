"""Widgets of the lesson player: each draws a view from :mod:`forklab.tui.views`.

They compute nothing about the model and change nothing: they draw what
they are given and post messages (:mod:`forklab.tui.messages`).
"""
from forklab.tui.widgets.address_space import AddressSpace
from forklab.tui.widgets.fd_table import FdTablePanel
from forklab.tui.widgets.kernel import KernelPanel
from forklab.tui.widgets.lesson_text import LessonText
from forklab.tui.widgets.panels import Panels
from forklab.tui.widgets.process_tree import ProcessTree
from forklab.tui.widgets.signals import SignalsPanel
from forklab.tui.widgets.threads import ThreadsPanel

__all__ = ["AddressSpace", "FdTablePanel", "KernelPanel", "LessonText", "Panels", "ProcessTree",
           "SignalsPanel", "ThreadsPanel"]
