"""The versioned clinical rules file and its validated model."""
