"""A simulated fleet over the Tiền Giang topology, driven through the real transport."""
