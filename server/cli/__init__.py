"""The `shopgo` command tree.

main.py holds the group `shopgo` and the store's own commands, base.py what every command
shares (the configuration, a database session). Each other part brings its own group, which
main.py attaches: offers/cli.py, simulate/cli.py, head_office/cli.py, firmware_bridge/cli.py,
and the handheld's `shopgo handheld` through the entry point group `shopgo.commands`
(pyproject.toml), so the server names the handheld nowhere. Imports nothing itself.
"""
