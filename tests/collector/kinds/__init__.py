"""Tests of the report kinds (collector/fleetwatch_collector/kinds/), one module each."""
