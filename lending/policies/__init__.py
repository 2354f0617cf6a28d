"""Credit-policy files shipped with the package (``default.toml``)."""
