"""Synthetic clickstream data lake with a planted, documented purchase signal (``docs/lake.md``).

``world`` holds the constants and the users and catalog drawn once per run,
``days`` simulates each day's sessions, events and stock, and ``lake`` writes
the tables (swapped in whole) and the manifest.
"""

from mlplat.seed.lake import SeedReport, SeedTable, seed_lake

__all__ = ["SeedReport", "SeedTable", "seed_lake"]
