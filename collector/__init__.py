"""Crumbless collector: beacons in, aggregate counters out, no IP ever kept."""
