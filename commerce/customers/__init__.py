"""Shop customers: accounts (separate from staff) and their address books."""
