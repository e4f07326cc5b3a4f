"""Contribution and tiering: pure functions (pareto, rules) and the recompute orchestration."""
