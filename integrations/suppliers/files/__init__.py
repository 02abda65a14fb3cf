"""Suppliers reached through files: purchase orders dropped as files, acknowledgements, tracking and stock picked up as files."""
