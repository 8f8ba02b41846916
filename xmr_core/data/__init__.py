"""Datasets: one model (``Dataset``), loaders per format, the demo generator, the image reader."""
from .dataset import CaptionRecord, Dataset, ImageRecord
from .images import read_image
from .loaders import load_coco, load_csv, load_dataset, load_demo, load_karpathy

__all__ = ["CaptionRecord", "Dataset", "ImageRecord", "read_image", "load_coco", "load_csv",
           "load_dataset", "load_demo", "load_karpathy"]
