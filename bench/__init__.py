"""`make bench`: cost per order and speed on a seeded workload, against the naive design."""
