"""Precomputed item features, above models and eval, below train (docs/architecture.md §Layers).

store: the hidden-state store (build it once per backbone and item set, read it memory-mapped); content: item content
read from stores; cache: the frozen baseline's first-token features, from a store or computed once per run.
"""
