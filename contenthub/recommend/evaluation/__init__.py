"""Offline evaluation of the recommender: the MovieLens protocol of DESIGN.md, its peers, and the
offline ranking entry point that scores with the production code but skips serving-only rules."""
