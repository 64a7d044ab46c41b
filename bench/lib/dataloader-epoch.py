# python3 dataloader-epoch.py DIR [--workers 4] [--batch 32]
# One epoch of a PyTorch DataLoader over every file of DIR (sorted names): each item is the file's bytes as
# a uint8 tensor, read by the loader's worker processes, batches stacked by the default collate. Prints one
# JSON line: files, bytes, seconds (the epoch alone: from iter() to the last batch, worker start included).
# Exit 3 when torch cannot be imported, so the caller can skip the row and say why.
import argparse
import json
import os
import sys
import time

try:
    import torch
    from torch.utils.data import DataLoader, Dataset
except ImportError as error:
    print(f"torch is missing: {error}", file=sys.stderr)
    sys.exit(3)


class Files(Dataset):
    def __init__(self, paths):
        self.paths = paths

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        with open(self.paths[index], "rb") as f:
            return torch.frombuffer(bytearray(f.read()), dtype=torch.uint8)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("dir")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()
    paths = [os.path.join(args.dir, name) for name in sorted(os.listdir(args.dir))]
    loader = DataLoader(Files(paths), batch_size=args.batch, num_workers=args.workers, shuffle=False)
    started = time.perf_counter()
    total = 0
    files = 0
    for batch in loader:
        total += batch.numel()
        files += batch.shape[0]
    seconds = time.perf_counter() - started
    print(json.dumps({"files": files, "bytes": total, "seconds": seconds}))


if __name__ == "__main__":
    main()
