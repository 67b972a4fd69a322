"""Verification benchmarks of the product's own pipeline: LFW View 2 pairs, insightface .bin sets, metrics."""
