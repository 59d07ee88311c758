"""Pure planning: a campaign and the assessment in, a :class:`Plan` out."""
