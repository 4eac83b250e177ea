"""Scenarios shipped with the simulator (TOML data files)."""
