"""widgets of the TUI."""
