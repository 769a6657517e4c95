"""What every layer shares and that imports nothing of rsvision: progress bars (and, as they move here, the
band catalogue, atomic file helpers and scoped settings)."""
