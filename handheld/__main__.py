"""`python -m handheld ...`: the same command as `shopgo handheld`, without the rest of the shopgo CLI."""
from __future__ import annotations

from handheld.cli import handheld

if __name__ == "__main__":
    handheld(prog_name="python -m handheld")
