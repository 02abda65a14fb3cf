"""Webhook intake (verify, record, ack), the inbox worker and the topic -> handler registry."""
