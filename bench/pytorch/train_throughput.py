#!/usr/bin/python3
"""Training throughput of GestaltLab's RegionNet architecture in PyTorch, for comparison with
`gestaltlab bench train-throughput` (same flags, same threads). Run with Debian's python3-torch:
    /usr/bin/python3 bench/pytorch/train_throughput.py --size 64 --width 16 --stages 4 --convs 2 --batch 32 --threads 2
GestaltLab trains on the CPU with channels-last batches (RegionNet.cs); --channels-last gives PyTorch the same layout,
without it PyTorch trains in its default NCHW layout.
"""
import argparse, time
import torch
import torch.nn as nn
import torch.nn.functional as F


class RegionNet(nn.Module):
    """Same layers as src/GestaltLab/Models/RegionNet.cs: [conv3x3(no bias)-BN-ReLU]×convs, maxpool2, per stage; GAP; linear."""

    def __init__(self, size, width, stages, convs, classes, channels=3):
        super().__init__()
        layers, c_in = [], channels
        for s in range(stages):
            w = width << s
            for _ in range(convs):
                layers += [nn.Conv2d(c_in, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
                c_in = w
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.fc = nn.Linear(c_in, classes)

    def forward(self, x):
        return self.fc(self.features(x).mean(dim=(2, 3)))


def main():
    p = argparse.ArgumentParser()
    for name, default in [("size", 64), ("width", 16), ("stages", 4), ("convs", 2), ("batch", 32), ("classes", 30), ("steps", 30), ("repeats", 5), ("threads", 2)]:
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--channels-last", action="store_true", help="train on channels-last batches, as GestaltLab does on the CPU")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = RegionNet(a.size, a.width, a.stages, a.convs, a.classes)
    net.train()
    opt = torch.optim.AdamW(net.parameters(), 1e-3)
    x = torch.rand(a.batch, 3, a.size, a.size)
    if a.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, a.classes, (a.batch,))

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()

    for _ in range(10):
        step()
    # Median of several timed blocks: a shared VM's stalls hit single blocks, not the median.
    blocks = []
    for _ in range(a.repeats):
        t = time.perf_counter()
        for _ in range(a.steps):
            step()
        blocks.append(a.steps * a.batch / (time.perf_counter() - t))
    ips = sorted(blocks)[len(blocks) // 2]
    print(f"PyTorch {torch.__version__}: {ips:.1f} images/s median of {a.repeats} blocks of {a.steps} steps "
          f"[{', '.join(f'{b:.0f}' for b in blocks)}] (net {a.size}px w{a.width} s{a.stages} c{a.convs}, batch {a.batch}, {torch.get_num_threads()} threads, "
          f"{'channels-last' if a.channels_last else 'NCHW'})")


if __name__ == "__main__":
    main()
