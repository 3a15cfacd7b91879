"""The MLServer custom runtime: an ``MLModel`` that classifies base64 JPEGs sent as v2 BYTES.

What MLServer's "custom inference runtime" guide has a user write: ``load()`` builds the model
from ``model-settings.json``'s parameters, ``predict()`` decodes the input with MLServer's
``base64`` codec and answers one BYTES output with the top-1 label of each image. The model work
is ``benchmarks.peers.serving.Classifier``, the same for every peer.
"""

from __future__ import annotations

from mlserver import MLModel
from mlserver.codecs import Base64Codec, StringCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri

from benchmarks.peers.serving import Classifier


class ImageClassifier(MLModel):
    """JPEG images in (one BYTES input, base64), their top-1 ImageNet labels out."""

    async def load(self) -> bool:
        extra = self.settings.parameters.extra if self.settings.parameters else None
        extra = extra or {}
        self.classifier = Classifier(
            await get_model_uri(self.settings), extra["labels"], int(extra.get("threads", 0))
        )
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        images = self.decode(payload.inputs[0], default_codec=Base64Codec)
        labels = [self.classifier.predict(image)["label"] for image in images]
        return InferenceResponse(
            model_name=self.name,
            outputs=[StringCodec.encode_output("label", labels)],
        )
