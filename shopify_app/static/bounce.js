// What App Bridge does on Shopify's patch-id-token page: fetch a token, reload the page with it.
// (A static file, not an inline script: the pages' CSP allows no inline script.)
(async () => {
  const messages = JSON.parse(document.getElementById('admin-messages').textContent);
  const params = new URLSearchParams(window.location.search);
  const target = new URL(params.get('shopify-reload') || '/', window.location.origin);
  if (target.origin !== window.location.origin) { document.body.textContent = messages.otherSite; return; }
  try {
    target.searchParams.set('id_token', await window.shopify.idToken());
  } catch (err) {
    document.body.textContent = messages.token;
    return;
  }
  window.location.replace(target.toString());
})();
