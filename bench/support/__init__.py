"""What the benchmarks share: the benchmark dump, child processes with their memory
sampled, the throwaway PostgreSQL, timing by wrapping functions, and the printed table."""
