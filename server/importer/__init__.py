"""Importers that load real data into a ShopGo database."""
