"""Fulfillment orders: which are ours to forward (by location), their holds, and carriers."""
