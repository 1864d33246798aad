"""How fast the transparent log's Merkle tree is: appending leaves, making and checking proofs.

    python benchmarks/merkle.py [--leaves N] [--proof-tree M] [--proofs P]

Prints leaves/s appended to a CompactTree (with and without hashing the leaf data), and
proofs/s for generating and verifying inclusion and consistency proofs. Generation reads leaf
hashes from a list and hashes every subtree it needs (about M hashes per proof, since nothing is
cached), so it is measured on a tree of M leaves; verification costs about log2(M) hashes.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from amigos import merkle  # noqa: E402


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:>12,.0f}/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leaves", type=int, default=200_000, help="leaves to append")
    parser.add_argument("--proof-tree", type=int, default=4_096, help="tree size for proof generation")
    parser.add_argument("--proofs", type=int, default=200, help="proofs to generate of each kind")
    args = parser.parse_args()

    data = [i.to_bytes(8, "big") * 32 for i in range(args.leaves)]  # 256-byte "receipts"
    start = time.perf_counter()
    hashes = [merkle.leaf_hash(d) for d in data]
    hashing = time.perf_counter() - start

    tree = merkle.CompactTree()
    start = time.perf_counter()
    tree.extend(hashes)
    appending = time.perf_counter() - start
    start = time.perf_counter()
    root = tree.root()
    rooting = time.perf_counter() - start
    print(f"append leaf hash      {rate(args.leaves, appending)}  ({args.leaves:,} leaves)")
    print(f"hash 256 B + append   {rate(args.leaves, appending + hashing)}")
    print(f"root of {args.leaves:,} leaves  {rooting * 1e6:.0f} µs  ({root.hex()[:16]}…)")

    rng = random.Random(1)
    size = min(args.proof_tree, args.leaves)
    big_root = merkle.merkle_root(hashes, size)
    indexes = [rng.randrange(size) for _ in range(args.proofs)]
    start = time.perf_counter()
    proofs = [merkle.inclusion_proof(hashes, i, size) for i in indexes]
    made = time.perf_counter() - start
    start = time.perf_counter()
    for i, proof in zip(indexes, proofs):
        merkle.verify_inclusion(hashes[i], proof, index=i, size=size, root=big_root)
    checked = time.perf_counter() - start
    print(f"inclusion proof make  {rate(args.proofs, made)}  (tree of {size:,})")
    print(f"inclusion proof check {rate(args.proofs, checked)}")

    olds = [rng.randrange(1, size) for _ in range(args.proofs)]
    start = time.perf_counter()
    proofs = [merkle.consistency_proof(hashes, old, size) for old in olds]
    made = time.perf_counter() - start
    old_roots = [merkle.CompactTree.from_leaves(hashes, old).root() for old in olds]
    start = time.perf_counter()
    for old, old_root, proof in zip(olds, old_roots, proofs):
        merkle.verify_consistency(proof, old_size=old, new_size=size, old_root=old_root, new_root=big_root)
    checked = time.perf_counter() - start
    print(f"consistency make      {rate(args.proofs, made)}")
    print(f"consistency check     {rate(args.proofs, checked)}")


if __name__ == "__main__":
    main()
