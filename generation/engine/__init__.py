"""torch + diffusers: the warm ``Engine`` (AnimateDiff-Lightning with MotionLoRAs), its input checks,
motion-weight handling, where weights come from (Hub, local folders, tiny random weights),
``models pull``, and the NSFW classifier that checks finished clips. Importing this
package imports torch. The ``GenerationResult`` it returns is plain data in ``generation.result``.
"""

from generation.engine.checks import check_inputs
from generation.engine.engine import Engine, create_engine
from generation.engine.safety import SafetyClassifier, SafetyUnavailable, load_classifier, tiny_classifier
from generation.engine.sources import LORA_WEIGHT_NAME, BaseRef, HubSource, LoraWeights, WeightSource, resolve_base

__all__ = [
    "LORA_WEIGHT_NAME",
    "BaseRef",
    "Engine",
    "HubSource",
    "LoraWeights",
    "SafetyClassifier",
    "SafetyUnavailable",
    "WeightSource",
    "check_inputs",
    "create_engine",
    "load_classifier",
    "resolve_base",
    "tiny_classifier",
]
