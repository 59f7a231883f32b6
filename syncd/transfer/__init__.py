"""Carrying out a plan: the worker (phases, parallelism), one handler per action type, streams."""
