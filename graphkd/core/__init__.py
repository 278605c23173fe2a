"""graphkd.core: the distillation layer (Distiller, losses, adapter, training engine, the config
schema and its one translation to detectron2's config). Imports ``graph``, ``detectors`` and
``pagedata``; never ``graphkd.apps`` or the CLI (Hydra)."""
