"""Tutorial 5: a constrained search with a parameter and AVM budget, and its Pareto front.

The evolutionary search scores candidates with the surrogate shipped in the package (fitted
on our own Fashion-MNIST results) and keeps only architectures that fit the budgets:
parameters (exact, counted from the architecture), crossbar tiles (exact) and predicted AVM.

Run:  python tutorials/05_constrained_search.py [--quick] [--output DIR]
"""

import json

from _common import tutorial_args
from analognas.plots import plot_pareto
from analognas.search import Constraints, EvolutionarySearch
from surrogate import AnalogSurrogate, default_surrogate_path

args = tutorial_args(__doc__)
surrogate = AnalogSurrogate.load(default_surrogate_path("resnet_like"))
space, domain = surrogate.space, surrogate.domain_
print(f"surrogate fitted on {domain.describe()}; {domain.describe_quality()}")

# The budgets stay inside the surrogate's table: parameter counts it has seen, for its inputs.
constraints = Constraints(max_params=domain.params_max + 1, max_tiles=64, tile_size=256,
                          input_shape=domain.input_shape, num_classes=domain.num_classes)
# With a time budget and no iteration count, the budget ends the search.
search = EvolutionarySearch(space, surrogate, constraints, population_size=50 if args.quick else 200,
                            time_budget_s=3 if args.quick else 60, seed=0)
result = search.run()
print(result.message)
print("best:", json.dumps(result.best.to_dict()))
print({k: round(float(v), 3) for k, v in result.best_prediction.items()},
      "(acc_1d is a ranking score, not a predicted accuracy)")
outside = domain.outside(result.best_prediction["params"], constraints.input_shape)
print("inside the surrogate's domain" if not outside else "OUTSIDE the surrogate's domain: " + "; ".join(outside))
print(f"{len(result.pareto_front)} architectures on the Pareto front of {result.n_scored} scored")
print("plot:", plot_pareto(result, args.output / "pareto.png"))
