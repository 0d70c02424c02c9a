"""Reports: a static HTML page per run (metrics, curves, gallery, manifest) and the
prediction overlays shared with `vadtool predict --visualize`."""

from .core import ReportError, build_report, stored_evaluations, worst_first
from .overlay import panels, write_overlay

__all__ = ["ReportError", "build_report", "panels", "stored_evaluations", "worst_first",
           "write_overlay"]
