"""The entry points, thin: `python scripts/NAME.py` in a clone, `vae-aae-...` installed."""
