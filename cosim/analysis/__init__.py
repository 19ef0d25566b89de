"""Analysis of run traces: summary rows and plots. Reads traces only."""
