"""Build the fleetwatch installers: Debian packages (agent, collector) and the Windows offline bundle."""
