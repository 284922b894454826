"""ShopGo db package."""
