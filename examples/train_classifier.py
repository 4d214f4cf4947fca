"""Train a small face classifier with PyTorch on a dataset written by ``faceripper rip``.

    faceripper split faces/ --out faces-split/ --fractions 0.8,0.2
    python examples/train_classifier.py faces-split/ --epochs 5

A split folder written by ``faceripper split`` (it holds ``splits.csv``) is loaded with
``torchvision.datasets.ImageFolder`` from its ``train/`` and ``val/`` folders: no face
track has crops in both, so the validation accuracy is honest. A dataset folder
(``faces/``) is also accepted, loaded as it is (one class per label folder; the
manifest and run-state files at the root are not folders, so the loader ignores them),
with a random fifth of the crops held out: neighbouring frames of a track are near
duplicates, so that accuracy is overstated. For real work, start from a pretrained
backbone instead of this small net.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, random_split
from torchvision import datasets, transforms


def small_cnn(n_classes: int) -> nn.Module:
    """A four-block convolutional net for 96x96 RGB faces."""
    layers: list[nn.Module] = []
    channels = 3
    for width in (32, 64, 128, 128):
        layers += [
            nn.Conv2d(channels, width, 3, padding=1),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        channels = width
    return nn.Sequential(
        *layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels, n_classes)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description="Train a classifier on a faceripper dataset.")
    parser.add_argument("dataset", type=Path, help="the --target-dir of faceripper rip")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    transform = transforms.Compose(
        [
            transforms.Resize((96, 96)),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize([0.5] * 3, [0.5] * 3),
        ]
    )
    train: Dataset
    valid: Dataset
    if (args.dataset / "splits.csv").is_file():  # from faceripper split: leak-free
        data = datasets.ImageFolder(str(args.dataset / "train"), transform=transform)
        valid = datasets.ImageFolder(
            str(args.dataset / "val"), transform=transform, allow_empty=True
        )
        train = data
    else:  # a dataset folder: a random split (neighbouring frames leak into validation)
        data = datasets.ImageFolder(str(args.dataset), transform=transform)
        held_out = max(1, len(data) // 5)
        train, valid = random_split(
            data,
            [len(data) - held_out, held_out],
            generator=torch.Generator().manual_seed(args.seed),
        )
    if len(data.classes) < 2:
        print(f"{args.dataset}: need at least two classes, found {data.classes}", file=sys.stderr)
        return 2
    train_loader = DataLoader(train, batch_size=args.batch_size, shuffle=True)
    valid_loader = DataLoader(valid, batch_size=args.batch_size)
    model = small_cnn(len(data.classes))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    print(
        f"{len(train)} training and {len(valid)} validation crops, "
        f"classes: {', '.join(data.classes)}"
    )
    for epoch in range(1, args.epochs + 1):
        model.train()
        for images, labels in train_loader:
            optimiser.zero_grad()
            loss = loss_fn(model(images), labels)
            loss.backward()
            optimiser.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for images, labels in valid_loader:
                correct += int((model(images).argmax(1) == labels).sum())
        accuracy = f"{correct / len(valid):.2%}" if len(valid) else "- (no validation crops)"
        print(f"epoch {epoch}: loss {loss.item():.3f}, validation accuracy {accuracy}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
