"""todm_torch: the todm Supernet and its training recipe in PyTorch, for training beyond one machine.

What it is: the model of src/model/ (frontend, MH-SSM Stateformer blocks, LSTM predictor, joiner, RNN-T
loss through torchaudio, the auxiliary CTC head) with leading-slice subnets; the Supernet recipe of
src/train/ and src/model/supernet.ts (sandwich sampling seeded as todm seeds it, adaptive dropout,
in-place alpha-divergence distillation); ScaledAdam and Eden written from their formulas; todm's
manifests, batches, SpecAugment and its safetensors model and checkpoint format (docs/model-format.md).
`torchrun -m todm_torch.train` trains it with DistributedDataParallel (README, "Scaling out").
What it is not: the pruned RNN-T loss (model.loss "pruned"), the convolution module, BPE tokenizers or
speed perturbation; a todm file that needs them is refused with a message saying so.
Reference: todm itself; python/tests and test/torch.test.ts check this package against the engine.
"""

__version__ = "0.1.0"
