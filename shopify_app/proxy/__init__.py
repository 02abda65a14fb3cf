"""The customer's page in the store, through Shopify's app proxy (/apps/orders): tracking, returns, reports and questions."""
