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


ARCHITECTURES = {"issue": IssueCnn, "fashion": FashionCnn}
loaded = {}


def load(cmd):
    n, h, w, c = cmd["shape"]
    x = np.fromfile(cmd["data"], dtype="<f4").reshape(n, h, w, c)
    y = np.fromfile(cmd["labels"], dtype="<i4")
    xs = torch.from_numpy(np.ascontiguousarray(x.transpose(0, 3, 1, 2)))
    ys = torch.from_numpy(y.astype(np.int64))
    model = ARCHITECTURES[cmd["model"]](c, cmd["classes"])
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
