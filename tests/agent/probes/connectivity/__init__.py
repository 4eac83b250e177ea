"""Tests of the connectivity probe."""
