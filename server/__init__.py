"""ShopGo server package."""
