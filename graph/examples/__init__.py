"""Worked examples of the graph layer on document tasks other than distillation (pure torch +
torch_geometric, like the rest of ``graph/``)."""
