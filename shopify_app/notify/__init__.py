"""Telling customers (and merchants) what happened, by email."""
