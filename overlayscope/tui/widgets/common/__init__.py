"""common of the TUI."""
