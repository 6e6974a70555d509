"""Benchmarks of the page and the reference back end (`make bench`, see bench/README.md)."""
