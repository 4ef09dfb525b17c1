"""API tokens: personal ones, and service-account ones for automation."""
