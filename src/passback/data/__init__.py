"""The data layer: PynamoDB models (one module per table) and a small repository per aggregate."""
