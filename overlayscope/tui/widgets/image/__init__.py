"""image of the TUI."""
