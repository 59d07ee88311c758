"""Pure assessment: matching, risk and decisions, baselines, compliance and drift."""
