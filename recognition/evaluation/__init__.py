"""Benchmarks of the product's own pipeline: LFW View 2 pairs, .bin sets, open-set identification."""
