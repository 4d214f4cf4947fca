"""Train a small face classifier with PyTorch on a dataset written by ``faceripper rip``.

    python examples/train_classifier.py faces/ --epochs 5

``faces/`` is loaded as it is with ``torchvision.datasets.ImageFolder``: one class per
label folder, the crops as samples (``manifest.csv`` and the run-state files at the
root are not folders, so the loader ignores them). A fifth of the crops is held out for
validation. For real work, start from a pretrained backbone instead of this small net,
and split by video rather than by crop: neighbouring frames of one video are near
duplicates, so a random split overstates accuracy.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, random_split
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
    data = datasets.ImageFolder(str(args.dataset), transform=transform)
    if len(data.classes) < 2:
        print(f"{args.dataset}: need at least two classes, found {data.classes}", file=sys.stderr)
        return 2
    held_out = max(1, len(data) // 5)
    train, valid = random_split(
        data, [len(data) - held_out, held_out], generator=torch.Generator().manual_seed(args.seed)
    )
    train_loader = DataLoader(train, batch_size=args.batch_size, shuffle=True)
    valid_loader = DataLoader(valid, batch_size=args.batch_size)
    model = small_cnn(len(data.classes))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    print(f"{len(data)} crops, classes: {', '.join(data.classes)}")
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
        print(
            f"epoch {epoch}: loss {loss.item():.3f}, validation accuracy {correct / held_out:.2%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
