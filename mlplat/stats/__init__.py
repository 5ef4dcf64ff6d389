"""Numerical building blocks shared by Managed Experiments and Managed Monitoring.

Pure functions on numpy arrays: no I/O, no platform types. A domain that needs
one imports it from here, so two domains never carry two versions of a test.
"""

from mlplat.stats.corrections import benjamini_hochberg, holm

__all__ = ["benjamini_hochberg", "holm"]
