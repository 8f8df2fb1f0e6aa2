"""Tutorial 5: a constrained search with a parameter and AVM budget, and its Pareto front.

The evolutionary search scores candidates with the surrogate shipped in the package (fitted
on our own Fashion-MNIST results) and keeps only architectures that fit the budgets:
parameters (exact, counted from the architecture), crossbar tiles (exact) and predicted AVM.

Run:  python tutorials/05_constrained_search.py [--quick] [--output DIR]
"""

import json

from _common import tutorial_args
from analognas.cli import default_surrogate_path
from analognas.plots import plot_pareto
from analognas.search import Constraints, EvolutionarySearch
from surrogate import AnalogSurrogate

args = tutorial_args(__doc__)
surrogate = AnalogSurrogate.load(default_surrogate_path("resnet_like"))
space = surrogate.space

constraints = Constraints(max_params=300_000, max_tiles=64, tile_size=256, input_shape=(1, 28, 28))
search = EvolutionarySearch(space, surrogate, constraints, population_size=50 if args.quick else 200,
                            iterations=5 if args.quick else 100,
                            time_budget_s=10 if args.quick else 60, seed=0)
result = search.run()
print(result.message)
print("best:", json.dumps(result.best.to_dict()))
print({k: round(float(v), 3) for k, v in result.best_prediction.items()})
print(f"{len(result.pareto_front)} architectures on the Pareto front of {result.n_scored} scored")
print("plot:", plot_pareto(result, args.output / "pareto.png"))
