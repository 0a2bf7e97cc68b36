"""Tax rates per country and region, and the tax contained in or added to an amount."""
