"""Training the transformer-decoder captioner on cached image tokens, and measuring a captioner on a validation part.

The image encoder (a registry backbone, frozen) runs once per run; its final maps are cached as tokens (float16)
and the decoder learns on them with teacher forcing and label smoothing, one caption drawn per image per epoch.
With ``CaptionConfig.encoder_lr`` above 0 the encoder learns too (end to end): the cache then holds the normalised
images themselves (float16, at the encoder's input size), each drawn in one of its 8 flips and quarter turns.
Each ``eval_every`` epochs the validation part is captioned (greedy) and scored by CIDEr-D; the best epoch is kept.
A checkpoint after every epoch lets a killed run resume. :func:`fit_caption_scst` can then fine-tune the decoder
self-critically on CIDEr-D (the built-in recipe measured it and left it off: docs/language.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from rsvision.datasets.base import Dataset
from rsvision.metrics.captioning import CiderD, caption_scores, tokenize_caption
from rsvision.models.captioner import PAD, CaptionDecoder
from rsvision.models.preprocess import Preprocessing
from rsvision.train.loop import decay_groups, lr_at
from rsvision.train.retrieval import images_through


@dataclass(frozen=True)
class CaptionConfig:
    epochs: int = 20
    batch_size: int = 128
    lr: float = 5e-4
    weight_decay: float = 0.05
    warmup_epochs: int = 1
    label_smoothing: float = 0.1
    eval_every: int = 2
    seed: int = 0
    encoder_lr: float = 0.0  # 0: the encoder frozen (cached tokens); above 0 it trains at this rate (cached images)


@dataclass(frozen=True)
class ScstConfig:
    """Self-critical fine-tuning after the cross-entropy epochs: ``samples`` captions drawn per image, each rewarded
    by its CIDEr-D against the image's references less the mean reward of the image's other samples."""

    epochs: int = 6
    batch_size: int = 32
    samples: int = 5
    lr: float = 2e-5
    max_len: int = 24
    seed: int = 0


@dataclass(frozen=True)
class CaptionParts:
    """Cached image tokens ``(N, M, F)`` (or, to train the encoder too, normalised images ``(N, C, H, W)``: see
    :func:`extract_images`) and each image's captions, for training and for validation; for a decoder that reads
    retrieved captions, their ids per image (``CaptionDecoder.retrieved_ids``)."""

    tokens: np.ndarray
    captions: Sequence[Sequence[str]]
    val_tokens: np.ndarray
    val_refs: Sequence[Sequence[str]]
    retrieved: torch.Tensor | None = None
    val_retrieved: torch.Tensor | None = None


@dataclass
class CaptionResult:
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    best_val_cider: float = float("-inf")
    seconds: float = 0.0


def extract_tokens(
    model: CaptionDecoder, dataset: Dataset, prep: Preprocessing, batch_size: int = 64, progress: bool = False
) -> np.ndarray:
    """(N, M, F) float16 encoder tokens of the dataset's images, preprocessed as the card says."""
    model.eval()
    return images_through(lambda x: model.image_tokens(x).half(), dataset, prep, batch_size, progress).numpy()


def extract_images(dataset: Dataset, prep: Preprocessing, batch_size: int = 64, progress: bool = False) -> np.ndarray:
    """(N, C, S, S) float16 images preprocessed as the card says: what an end-to-end run's encoder reads."""
    return images_through(lambda x: x.half(), dataset, prep, batch_size, progress, title="images").numpy()


def image_tokens(model: CaptionDecoder, cached: np.ndarray) -> torch.Tensor:
    """Encoder tokens (B, M, F) of a cached batch: tokens as they are, images read by the encoder."""
    batch = torch.from_numpy(cached).float()
    return model.image_tokens(batch) if batch.ndim == 4 else batch


def decode_tokens(
    model: CaptionDecoder,
    tokens: np.ndarray,
    beam: int = 1,
    batch_size: int = 256,
    retrieved: torch.Tensor | None = None,
) -> list[str]:
    model.eval()
    out: list[str] = []
    for start in range(0, len(tokens), batch_size):
        part = None if retrieved is None else retrieved[start : start + batch_size]
        with torch.no_grad():
            batch = image_tokens(model, tokens[start : start + batch_size])
        out += model.generate(batch, beam=beam, retrieved=part)
    return out


def fit_caption_decoder(
    model: CaptionDecoder,
    data: CaptionParts,
    config: CaptionConfig,
    work_dir: str | Path,
    log: Callable[[str], None] = print,
) -> CaptionResult:
    """Train ``model``'s decoder (the encoder stays as it is unless ``config.encoder_lr``, when ``data`` holds images)
    on ``data.tokens[i]`` captioned by ``data.captions[i]``; the best validation epoch's state is
    ``work_dir/best.pt``, the last epoch's ``work_dir/last.pt`` (resumed from). Without validation images the last
    epoch's state is kept."""
    work_dir = Path(work_dir)
    if (data.tokens.ndim == 4) != (config.encoder_lr > 0):
        raise ValueError("an encoder learning rate needs cached images (extract_images), and cached images need one")
    optimizer = torch.optim.AdamW(_param_groups(model, config), lr=config.lr)
    work_dir.mkdir(parents=True, exist_ok=True)
    result, start_epoch = _resume(model, optimizer, work_dir / "last.pt", config, len(data.tokens), log)
    steps_per_epoch = -(-len(data.tokens) // config.batch_size)
    total, warmup = config.epochs * steps_per_epoch, config.warmup_epochs * steps_per_epoch
    for epoch in range(start_epoch + 1, config.epochs + 1):
        t0 = time.perf_counter()
        step = (epoch - 1) * steps_per_epoch
        loss = _epoch(model, optimizer, data, config, epoch, step, total, warmup)
        row = {"epoch": epoch, "loss": round(loss, 4), "seconds": round(time.perf_counter() - t0, 1)}
        if len(data.val_tokens) and (epoch % config.eval_every == 0 or epoch == config.epochs):
            _validate(model, data, 1, result, row, work_dir)
        _end_epoch(model, optimizer, result, row, t0, config, len(data.tokens), work_dir, log)
    if len(data.val_tokens):
        model.load_state_dict(torch.load(work_dir / "best.pt", weights_only=True))
    else:
        result.best_epoch = config.epochs
    return result


def _decoder_params(model: CaptionDecoder) -> list[torch.nn.Parameter]:
    """Every parameter but the image encoder's."""
    return [p for n, p in model.named_parameters() if not n.startswith("encoder.")]


def _param_groups(model: CaptionDecoder, config: CaptionConfig) -> list[dict]:
    """The decoder's parameters at ``config.lr``, and with ``config.encoder_lr`` the encoder's at that rate."""
    groups = decay_groups(_decoder_params(model), config.weight_decay, base_lr=config.lr)
    if config.encoder_lr:
        groups += decay_groups(model.encoder.parameters(), config.weight_decay, base_lr=config.encoder_lr)
    return groups


def _d4(images: np.ndarray, gen: np.random.Generator) -> np.ndarray:
    """Each image in one of its 8 flips and quarter turns, drawn by ``gen``."""
    out = np.empty_like(images)
    for i, (turns, flip) in enumerate(zip(gen.integers(4, size=len(images)), gen.integers(2, size=len(images)))):
        image = np.rot90(images[i], turns, axes=(1, 2))
        out[i] = image[:, :, ::-1] if flip else image
    return out


def _epoch(model, optimizer, data: CaptionParts, config: CaptionConfig, epoch: int, step: int, total: int, warmup):
    model.train()
    model.encoder.train(config.encoder_lr > 0)
    gen = np.random.default_rng([config.seed, epoch])
    order = gen.permutation(len(data.tokens))
    losses = []
    for start in range(0, len(order), config.batch_size):
        idx = order[start : start + config.batch_size]
        texts = [data.captions[i][gen.integers(len(data.captions[i]))] for i in idx]
        ids = model.encode_ids(texts)
        ids = ids[:, : int((ids != PAD).sum(1).max())]
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, total, warmup, group["base_lr"])
        retrieved = None if data.retrieved is None else data.retrieved[idx]
        cached = _d4(data.tokens[idx], gen) if config.encoder_lr else data.tokens[idx]
        logits = model.logits(image_tokens(model, cached), ids[:, :-1], retrieved)
        loss = F.cross_entropy(
            logits.flatten(0, 1), ids[:, 1:].flatten(), ignore_index=PAD, label_smoothing=config.label_smoothing
        )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        step += 1
    return float(np.mean(losses))


def fit_caption_scst(
    model: CaptionDecoder,
    data: CaptionParts,
    config: ScstConfig,
    work_dir: str | Path,
    beam: int = 3,
    log: Callable[[str], None] = print,
) -> CaptionResult:
    """Self-critical sequence training (Rennie et al. 2017, with the mean of the other samples as the baseline, as
    Luo 2020 does) of a decoder trained by cross-entropy: it optimises CIDEr-D, the score captions are judged by,
    instead of the references' likelihood. Validation (beam ``beam``) after every epoch; epoch 0 is the starting
    model, so the best state is never worse on validation than the start. Resumable from ``work_dir/last.pt``."""
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    optimizer = torch.optim.Adam(_decoder_params(model), lr=config.lr)
    tokenised = [[tokenize_caption(c) for c in refs] for refs in data.captions]
    scorer = CiderD(tokenised)
    references = [scorer.references(refs) for refs in tokenised]
    result, start_epoch = _resume(model, optimizer, work_dir / "last.pt", config, len(data.tokens), log)
    if start_epoch == 0:  # the starting model, so the kept state is never worse on validation
        result.history.append(_validate(model, data, beam, result, {"epoch": 0}, work_dir))
        log(_line(result.history[-1]))
    for epoch in range(start_epoch + 1, config.epochs + 1):
        t0 = time.perf_counter()
        reward = _scst_epoch(model, optimizer, data.tokens, scorer, references, config, epoch)
        row = {"epoch": epoch, "train_reward": round(reward, 4), "seconds": round(time.perf_counter() - t0, 1)}
        _validate(model, data, beam, result, row, work_dir)
        _end_epoch(model, optimizer, result, row, t0, config, len(data.tokens), work_dir, log)
    model.load_state_dict(torch.load(work_dir / "best.pt", weights_only=True))
    return result


def _resume(model, optimizer, last: Path, config, n_images: int, log) -> tuple[CaptionResult, int]:
    if not last.is_file():
        return CaptionResult(), 0
    state = torch.load(last, weights_only=False)
    if state["config"] != asdict(config) or state["n_images"] != n_images:
        raise RuntimeError(f"{last} was made with other settings or data; move it away to start afresh")
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    log(f"resumed after epoch {state['epoch']}")
    return CaptionResult(**state["result"]), state["epoch"]


def _validate(model, data: CaptionParts, beam: int, result: CaptionResult, row: dict, work_dir: Path) -> dict:
    """``row`` with the validation CIDEr-D of ``model`` (beam ``beam``); ``work_dir/best.pt`` when the best so far."""
    hyps = decode_tokens(model, data.val_tokens, beam=beam, retrieved=data.val_retrieved)
    row["val_cider"] = round(caption_scores(dict(enumerate(data.val_refs)), dict(enumerate(hyps)))["cider"], 4)
    if row["val_cider"] > result.best_val_cider:
        result.best_epoch, result.best_val_cider = row["epoch"], row["val_cider"]
        torch.save(model.state_dict(), work_dir / "best.pt")
    return row


def _end_epoch(model, optimizer, result: CaptionResult, row: dict, t0: float, config, n_images: int, work_dir, log):
    """Record and log the epoch's ``row``, then write the checkpoint a killed run resumes from."""
    result.history.append(row)
    result.seconds += time.perf_counter() - t0
    log(_line(row))
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": row["epoch"]}
    state |= {"result": asdict(result), "config": asdict(config), "n_images": n_images}
    torch.save(state, work_dir / "last.pt")


def _line(row: dict) -> str:
    return " ".join(f"{k} {v}" for k, v in row.items())


def _scst_epoch(model, optimizer, tokens, scorer: CiderD, references, config: ScstConfig, epoch: int) -> float:
    model.eval()  # no dropout: the sampled captions and their log-probabilities come from the same network
    gen = torch.Generator().manual_seed(config.seed * 1000 + epoch)
    order = torch.randperm(len(tokens), generator=gen).numpy()
    rewards = []
    for start in range(0, len(order), config.batch_size):
        images = order[start : start + config.batch_size]
        idx = np.repeat(images, config.samples)
        with torch.no_grad():  # the encoder stays as it is: tokens as cached, or cached images read by it (once each)
            memory = image_tokens(model, tokens[images]).repeat_interleave(config.samples, 0)
        ids = model.sample(memory, gen, config.max_len)
        texts = [model.text(row) for row in ids.tolist()]
        reward = torch.tensor([scorer.score(tokenize_caption(t), references[i]) for t, i in zip(texts, idx)])
        grouped = reward.view(-1, config.samples)
        baseline = (grouped.sum(1, keepdim=True) - grouped) / (config.samples - 1)
        advantage = (grouped - baseline).flatten()
        logp = model.logits(memory, ids[:, :-1]).log_softmax(-1).gather(2, ids[:, 1:, None]).squeeze(2)
        logp = (logp * (ids[:, 1:] != PAD)).sum(1)
        loss = -(advantage * logp).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        rewards.append(float(reward.mean()))
    return float(np.mean(rewards))
