"""Inference throughput (images/s) of Conv4Net versus AlexNet48, side by side in one run.

    python benchmarks/classifier_throughput.py [--device cpu|cuda] [--batches 1 64 256] [--seconds 3]

Prints a table and writes benchmarks/out/classifier_throughput_{device}.json. The paper
reports Conv4Net 11.00% faster than AlexNet with 46.26% fewer parameters (on an A100).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from yl8c4net.classify import AlexNet48, Conv4Net, count_parameters
from record import write_record


def images_per_second(model, batch: int, device, seconds: float) -> float:
    x = torch.randn(batch, 3, 48, 48, device=device)
    with torch.inference_mode():
        for _ in range(3):  # warm-up (kernel selection, caches)
            model(x)
        if device.type == "cuda":
            torch.cuda.synchronize()
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            model(x)
            n += batch
        if device.type == "cuda":
            torch.cuda.synchronize()
        return n / (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64, 256])
    ap.add_argument("--seconds", type=float, default=3.0)
    args = ap.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    models = {"Conv4Net": Conv4Net().to(device).eval(), "AlexNet48": AlexNet48().to(device).eval()}
    rows = []
    for batch in args.batches:
        # Alternate the two models so drifts in machine load hit both alike.
        rates = {name: [] for name in models}
        for _ in range(2):
            for name, m in models.items():
                rates[name].append(images_per_second(m, batch, device, args.seconds / 2))
        r = {name: max(v) for name, v in rates.items()}
        rows.append(
            {
                "batch": batch,
                "conv4net_ips": r["Conv4Net"],
                "alexnet_ips": r["AlexNet48"],
                "speedup": r["Conv4Net"] / r["AlexNet48"],
            }
        )
    print(
        f"device: {device} ({torch.cuda.get_device_name() if device.type == 'cuda' else platform.processor() or 'cpu'}), "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    print(
        f"parameters: Conv4Net {count_parameters(models['Conv4Net']):,}, AlexNet48 {count_parameters(models['AlexNet48']):,}"
    )
    print("| batch | Conv4Net images/s | AlexNet48 images/s | Conv4Net / AlexNet |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['batch']} | {r['conv4net_ips']:.0f} | {r['alexnet_ips']:.0f} | {r['speedup']:.2f} |")
    out = Path(__file__).resolve().parent / "out" / f"classifier_throughput_{device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_record(out, {"device": str(device), "torch": torch.__version__, "rows": rows})


if __name__ == "__main__":
    main()
