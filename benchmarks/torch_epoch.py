"""PyTorch side of benchmarks/cpu-vs-pytorch.ts: the same CNNs, trained one epoch per command.

Run by the benchmark as a child process (Debian's python3-torch, one thread). It reads one JSON
command per line on stdin and answers one JSON line on stdout:

  {"cmd": "load", "model": "issue", "data": "/tmp/x.f32", "labels": "/tmp/y.i32",
   "shape": [512, 32, 32, 3], "classes": 10}
      -> {"ok": true, "torch": "1.13.1", "threads": 1}
  {"cmd": "epoch", "model": "issue", "batch": 32}
      -> {"wall": 0.21, "cpu": 0.21, "loss": 2.3}      (seconds; cpu = process time)
  {"cmd": "quit"}

Data files are raw little-endian float32 NHWC images and int32 labels, written by the benchmark
so both sides train on identical data. Models mirror the tfjs ones layer for layer (NCHW here).
"""

import json
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

torch.set_num_threads(1)
try:
    torch.set_num_interop_threads(1)
except RuntimeError:
    pass  # already set
torch.manual_seed(0)


class IssueCnn(nn.Module):
    """conv16 3x3 relu same, maxpool 2, conv32 3x3 relu same, maxpool 2,
    conv64 3x3 relu same stride 2, global average pool, dense softmax."""

    def __init__(self, channels, classes):
        super().__init__()
        self.c1 = nn.Conv2d(channels, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.c3 = nn.Conv2d(32, 64, 3, stride=2, padding=1)
        self.fc = nn.Linear(64, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = F.relu(self.c3(x))
        return self.fc(x.mean((2, 3)))


class FashionCnn(nn.Module):
    """examples/fashion-mnist base CNN: conv16, pool, conv32, pool, conv64, GAP, dense64 relu,
    dense softmax (all convs 3x3 relu same)."""

    def __init__(self, channels, classes):
        super().__init__()
        self.c1 = nn.Conv2d(channels, 16, 3, padding=1)
        self.c2 = nn.Conv2d(16, 32, 3, padding=1)
        self.c3 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64, 64)
        self.fc2 = nn.Linear(64, classes)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.c1(x)), 2)
        x = F.max_pool2d(F.relu(self.c2(x)), 2)
        x = F.relu(self.c3(x))
        return self.fc2(F.relu(self.fc1(x.mean((2, 3)))))


def divisible(v, by=8):
    """Keras' _make_divisible: a multiple of 8, never more than 10% below v."""
    n = max(by, int(v + by / 2) // by * by)
    return n + by if n < 0.9 * v else n


def conv_bn(cin, cout, kernel, stride=1, groups=1, relu6=True):
    layers = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
        # Keras BatchNormalization(momentum=0.999, epsilon=1e-3)
        nn.BatchNorm2d(cout, eps=1e-3, momentum=0.001),
    ]
    if relu6:
        layers.append(nn.ReLU6())
    return layers


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = conv_bn(cin, hidden, 1) if expand != 1 else []
        layers += conv_bn(hidden, hidden, 3, stride, groups=hidden)
        layers += conv_bn(hidden, cout, 1, relu6=False)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


class MobileNetV2(nn.Module):
    """benchmarks/cpu-vs-pytorch.ts mobileNetV2: MobileNetV2 at width alpha (0.35), random
    weights, as keras.applications builds it (padding 1 where Keras pads 'same')."""

    def __init__(self, channels, classes, alpha=0.35):
        super().__init__()
        first = divisible(32 * alpha)
        layers = conv_bn(channels, first, 3, 2)
        cin = first
        for t, c, n, s in [
            (1, 16, 1, 1),
            (6, 24, 2, 2),
            (6, 32, 3, 2),
            (6, 64, 4, 2),
            (6, 96, 3, 1),
            (6, 160, 3, 2),
            (6, 320, 1, 1),
        ]:
            cout = divisible(c * alpha)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        layers += conv_bn(cin, 1280, 1)
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(1280, classes)

    def forward(self, x):
        return self.fc(self.features(x).mean((2, 3)))


ARCHITECTURES = {"issue": IssueCnn, "fashion": FashionCnn, "mobilenet": MobileNetV2}
loaded = {}


def load(cmd):
    n, h, w, c = cmd["shape"]
    x = np.fromfile(cmd["data"], dtype="<f4").reshape(n, h, w, c)
    y = np.fromfile(cmd["labels"], dtype="<i4")
    xs = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    ys = torch.from_numpy(y.astype(np.int64))
    model = ARCHITECTURES[cmd["model"]](c, cmd["classes"])
    model.train()
    # Softmax + categorical cross-entropy in tfjs == cross_entropy on logits here.
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loaded[cmd["model"]] = (model, opt, xs, ys)
    return {"ok": True, "torch": torch.__version__, "threads": torch.get_num_threads()}


def epoch(cmd):
    model, opt, xs, ys = loaded[cmd["model"]]
    batch = cmd["batch"]
    t0 = time.perf_counter()
    c0 = time.process_time()
    perm = torch.randperm(xs.shape[0])
    total = 0.0
    for i in range(0, xs.shape[0], batch):
        idx = perm[i : i + batch]
        opt.zero_grad()
        loss = F.cross_entropy(model(xs[idx]), ys[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    return {
        "wall": time.perf_counter() - t0,
        "cpu": time.process_time() - c0,
        "loss": total / xs.shape[0],
    }


def main():
    for line in sys.stdin:
        cmd = json.loads(line)
        if cmd["cmd"] == "quit":
            break
        try:
            out = load(cmd) if cmd["cmd"] == "load" else epoch(cmd)
        except Exception as err:  # report, keep serving
            out = {"error": f"{type(err).__name__}: {err}"}
        sys.stdout.write(json.dumps(out) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
