"""files of the TUI."""
