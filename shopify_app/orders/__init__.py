"""Orders: sync from Shopify, routing to suppliers, the timeline."""
