"""GraphKD: distill detectron2 document-layout detectors by matching structured instance graphs.

``graphkd.core`` is the distillation layer; ``graphkd.apps`` the applications built on it.
"""
