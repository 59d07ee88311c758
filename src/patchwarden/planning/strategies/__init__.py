"""One module per rollout strategy; each turns a group's assets into batches of units."""
