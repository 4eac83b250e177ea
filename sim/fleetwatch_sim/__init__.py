"""A simulated fleet over a site inventory, driven through the agent's real transport."""
