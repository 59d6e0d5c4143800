"""Running the site for tests and benchmarks (tests/ and bench/ both import it; never
deployed, and free of pytest)."""
