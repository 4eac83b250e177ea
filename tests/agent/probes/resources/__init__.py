"""Tests of the resources probe."""
