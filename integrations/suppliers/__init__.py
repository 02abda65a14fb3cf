"""Supplier adapters, one package per supplier, all behind the interface in base.py."""
