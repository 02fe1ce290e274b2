"""Use trained runs: rebuild a run's model, rank items for histories, encode cold-start items, serve many targets."""
