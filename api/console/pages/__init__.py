"""Console pages, one module per menu entry."""
