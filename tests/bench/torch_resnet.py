#!/usr/bin/python3
"""torch_resnet.py: PyTorch's throughput on the same networks as bench_net.

usage: torch_resnet.py WIDTH BATCH MODE(train|infer) [ITERS [ARCH [PRECISION [THREADS]]]]
Prints one line: "torch img/s X rss_mib Y" (Y: this process's peak RSS,
the interpreter and torch included). The CIFAR-style network ARCH
(default resnet18; mobilenetv2, mobilenetv3s), the module of
examples/ssl_resnet.py, channels_last, torch.set_num_threads(THREADS)
(default 2),
median of ITERS timed iterations after one warm-up; PRECISION bf16 runs
the forward under torch.autocast('cpu', dtype=torch.bfloat16) (PyTorch's
mixed precision: convolutions and linear layers in bf16), fp32 (the
default) without. With NET_BENCH_CPU_TIME=1 (and THREADS 1) the
iterations are timed in this process's CPU time (time.process_time),
which leaves out the waits for a core on a shared machine, as
bench_net --cpu-time does. Run it with
MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000 (tests/bench/net.sh
does)."""
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'examples'))
from ssl_resnet import Net  # noqa: E402


def main():
    width, batch, mode = float(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    iters = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    arch = sys.argv[5] if len(sys.argv) > 5 else 'resnet18'
    bf16 = len(sys.argv) > 6 and sys.argv[6] == 'bf16'
    threads = int(sys.argv[7]) if len(sys.argv) > 7 else 2
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = Net(arch, 'cifar', width, 3, 'none', 0, 0).to(memory_format=torch.channels_last)
    x = torch.randn(batch, 3, 32, 32).to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(net.parameters(), lr=1e-6, momentum=0.9, weight_decay=5e-4)
    clock = time.perf_counter
    if os.environ.get('NET_BENCH_CPU_TIME') == '1':
        if threads != 1:
            sys.exit('torch_resnet.py: NET_BENCH_CPU_TIME=1 needs THREADS 1')
        clock = time.process_time
    times = []
    for it in range(iters + 1):
        t0 = clock()
        if mode == 'train':
            net.train()
            opt.zero_grad()
            with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
                out = net(x)
            out.float().backward(torch.ones_like(out, dtype=torch.float32) * 1e-3)
            opt.step()
        else:
            net.eval()
            with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
                net(x)
        if it > 0:
            times.append(clock() - t0)
    times.sort()
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print('torch img/s %.1f rss_mib %.0f' % (batch / times[len(times) // 2], rss))


if __name__ == '__main__':
    main()
