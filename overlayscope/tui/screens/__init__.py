"""screens of the TUI."""
