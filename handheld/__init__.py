"""ShopGo handheld package."""
