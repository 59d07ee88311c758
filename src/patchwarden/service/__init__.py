"""Use cases that combine the layers below: load, assess, plan, run, report."""
