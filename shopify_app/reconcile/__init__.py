"""Reconciliation: scheduled checks that find desyncs between Shopify, our records and suppliers, and repair what is safe."""
