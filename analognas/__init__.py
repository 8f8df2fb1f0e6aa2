"""analognas: hardware-aware neural architecture search for analog in-memory-computing chips.

The hardware model, hardware-aware training and drift evaluation are exported here; aihwkit
itself is imported only when a network is converted or evaluated.

Example:
    >>> import analognas
    >>> hw = analognas.AnalogHardware(g_max=25.0, adc_bits=8)
    >>> cfg = analognas.TrainingConfig(pretrain_epochs=1, epochs=1, device="cpu")
"""

from .data import DatasetBundle, load_dataset
from .evaluation import EvaluationConfig, EvaluationResult, evaluate_architecture
from .hardware import AnalogHardware, to_analog
from .training import TrainingConfig, TrainingOutcome, train_hwa

__all__ = [
    "AnalogHardware",
    "to_analog",
    "TrainingConfig",
    "TrainingOutcome",
    "train_hwa",
    "EvaluationConfig",
    "EvaluationResult",
    "evaluate_architecture",
    "DatasetBundle",
    "load_dataset",
]
