"""The content library: assets, taxonomy, uploads, auto-tag suggestions and search."""
