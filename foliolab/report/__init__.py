"""Renderers: the interleaving table, ftrace-style event text, the verdict
table."""

from .events import event_line, ftrace_text  # noqa: F401
from .table import header_line, interleaving_table, step_cell  # noqa: F401
from .verdict import verdict_table  # noqa: F401
