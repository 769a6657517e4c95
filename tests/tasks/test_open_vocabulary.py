import numpy as np

from rsvision.tasks.base import TileBatch
from rsvision.tasks.open_vocabulary import BACKGROUND, OpenVocabularyDetector, window_boxes


def test_windows_cover_the_tile_at_half_steps():
    boxes = window_boxes(200, 300, (96, 400))
    assert len(boxes) == len({*range(0, 105, 48), 104}) * len({*range(0, 205, 48), 204})  # 400 px: larger than tile
    assert boxes[:, 2].max() == 300 and boxes[:, 3].max() == 200 and (boxes[:, 2] - boxes[:, 0] == 96).all()


class RedEmbedder:
    """Embeds an image by how red it is, and a prompt by whether it names a red roof: a stand-in dual encoder."""

    name, scale = "red", 50.0

    def embed_texts(self, texts):
        return np.array([[1.0, 0.0] if "red roof" in t else [0.0, 1.0] for t in texts], np.float32)

    def embed_images(self, crops):
        red = np.array([float(c[0].mean() > 128) for c in crops], np.float32)
        return np.stack([red, 1 - red], 1)


def test_windows_labelled_by_the_embedder_and_background_dropped():
    image = np.zeros((3, 192, 192), np.float32)
    image[0, :96, :96] = 255  # one red quarter
    detector = OpenVocabularyDetector(RedEmbedder(), ["red roof"], windows=(96,), score=0.5)
    assert len(detector.text) == 1 + len(BACKGROUND)
    batch = TileBatch(image[None], np.zeros((1, 192, 192), bool), [None])
    (dets,) = detector.predict(batch)
    assert dets.boxes.tolist() == [[0, 0, 96, 96]] and dets.labels.tolist() == [0] and dets.scores[0] > 0.5
