"""Dense sentence vectors: a verified int8 ONNX encoder and int8 vector storage.

Sits below the index and retrieval layers and imports nothing else from
``service``. The shipped model is all-MiniLM-L6-v2 (``models/``, made by
``scripts/export_model.py``); see :mod:`service.embedding.encoder`.
"""

from . import encoder
from .encoder import (
    Encoder,
    EncoderConfig,
    ModelIntegrityError,
    default_model_dir,
    dequantize,
    quantize,
    quantized_dot,
    verify,
)

__all__ = encoder.__all__
