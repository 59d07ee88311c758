"""All I/O with the outside world, behind small protocols; ``sim`` is the simulated estate."""
