"""Where records go: ndjson file, JUnit XML properties, the terminal summary."""
