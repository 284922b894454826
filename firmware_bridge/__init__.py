"""ShopGo firmware_bridge package."""
