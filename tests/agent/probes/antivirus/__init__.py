"""Tests of the antivirus probe."""
