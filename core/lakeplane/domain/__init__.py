"""Feature areas, each with schemas (wire types), services (queries and rules) and controllers (HTTP)."""
