// Sandbox stand-in for App Bridge's `shopify.idToken()`: in sandbox mode there is no
// Shopify admin around the page, so session tokens come from the local sandbox store.
(function () {
  const me = document.currentScript;
  const base = me.dataset.sandboxShopify;
  const shop = me.dataset.shop;
  const apiKey = me.dataset.apiKey;
  window.shopify = {
    async idToken() {
      const url = `${base}/admin/session-token?shop=${encodeURIComponent(shop)}&client_id=${encodeURIComponent(apiKey)}`;
      const res = await fetch(url);
      if (!res.ok) throw new Error(`session token: HTTP ${res.status}`);
      return (await res.json()).token;
    },
  };
})();
