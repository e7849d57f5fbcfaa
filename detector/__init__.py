"""Detector: Faster R-CNN that finds garments in shop photos and sampled video frames.

``model.build_detector`` (torchvision R50-FPN v2, timm backbones through an FPN, optional
detectron2), ``train.train_detector``, ``infer.predict`` -> ``Detections``, ``evaluate.coco_ap``.
Submodules import torch; this package file does not, so that ``detector.config`` stays light.
"""
