"""The real-text benchmark (benchmarks/real/run.py), by concept: data (the pairs over the cached
embeddings), splits (held-out models, balanced and skewed subsets), jobs (training), metrics
(held-out evaluation), stats, and the report (report, sections)."""
