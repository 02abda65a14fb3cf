"""Benchmarks that print figures (see bench/README.md); nothing here is imported by the app."""
