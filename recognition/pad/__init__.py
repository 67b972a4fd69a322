"""Presentation-attack detection: passive MiniFASNet scores on the reference crop, and their card."""
