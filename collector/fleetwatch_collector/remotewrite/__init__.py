"""Prometheus remote write of late reports (backfill) with their collection times; docs/remote-write.md."""
