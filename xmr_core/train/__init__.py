"""Train one network on images and encoded captions: ``train(run_dir, dataset, ...)``.

    python -m xmr_core train --dataset ../data/dataset_flickr30k.json --images-dir ../data/flickr30k-images \
        --name f30k --recipe paper --epochs 30
    torchrun --nproc_per_node=2 -m xmr_core train --dataset demo --name ddp-demo     # DDP (gloo on CPU)
    python -m xmr_core train --name f30k --resume                                       # continue exactly

One module a concern (after open_clip's trainer): ``samples`` (a class = one image and its
captions; the batch sampler), ``heads`` (the network plus its training-only heads), ``optim``
(parameter groups, LR schedule), ``precision`` (device, AMP, memory format), ``distributed``
(DDP rank, gather), ``checkpoint`` (training state, RNG, signals), ``validate`` (periodic
R@K), ``log`` (CSV and progress) and ``loop`` (setup and the loop). Losses: ``xmr_core.losses``;
recipes: ``xmr_core.recipes``; the run bundle it writes: ``xmr_core.bundle.run``.
"""
from .loop import TrainResult, train

__all__ = ["TrainResult", "train"]
