"""Which variant of a running experiment a unit gets while serving, and the exposure it leaves.

This is the part of experiments that the serving paths (the recommender, the planner, journeys) ask on every
request, so it sits below them; designing, analysing and reporting experiments (``contenthub.experiments``)
sits above them and reads the exposures this package writes. Keeping the two apart is what lets the layers
run one way: experiments → publish / journeys → recommend → variants.
"""
