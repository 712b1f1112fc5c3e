"""Task YAMLs shipped by the test plugin."""
