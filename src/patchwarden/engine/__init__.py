"""Durable execution: a pure machine decides, the runner carries out and journals."""
