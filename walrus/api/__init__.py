"""S3 handlers, one module per resource; walrus.dispatch maps requests to them."""
