"""Pure assessment: responsibility, matching, risk and decisions."""
