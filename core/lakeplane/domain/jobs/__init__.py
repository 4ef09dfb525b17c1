"""Jobs: named, versioned definitions of work that runs execute."""
