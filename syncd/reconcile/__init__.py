"""Reconciliation: the pure planner (local, remote, base -> plan) and the guards that hold a plan back."""
