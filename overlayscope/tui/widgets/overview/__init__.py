"""overview of the TUI."""
