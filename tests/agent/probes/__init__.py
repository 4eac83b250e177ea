"""Tests of the probes, one package per probe as in fleetwatch_agent.probes."""
