"""Site inventories shipped with fleetwatch (TOML data files)."""
