"""The real-page recipe (``make demo-real``): synthetic pretraining, then the teacher fine-tuned
and the students distilled on real pages, and the report (:mod:`.recipe`).

Modules: ``pages`` (the real pages: shipped samples, DocBank token folders, COCO jsons; mixing
in synthetic pages), ``stages`` (the two stages' config overrides) and ``recipe`` (the jobs, the
report and the command line).
"""

from graphkd.apps.demo_real.pages import SAMPLES, RealPages, resolve_real_pages
from graphkd.apps.demo_real.recipe import DemoRealOptions, main, run_demo_real

__all__ = ["SAMPLES", "DemoRealOptions", "RealPages", "main", "resolve_real_pages", "run_demo_real"]
