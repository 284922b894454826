"""Importers that load real data into a ShopGo database.

May import `db`, the platform modules and server.store.
"""
