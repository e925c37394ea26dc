"""Run under torch.distributed.run (2 CPU processes): each rank holds half of one batch;
writes its Sinkhorn codes and DINO centre so the test can compare them with one process."""
import json
import sys

import torch
import torch.distributed as dist

from multicl.objectives.dino import DINOLoss
from multicl.objectives.sinkhorn import sinkhorn_knopp

dist.init_process_group("gloo")
rank = dist.get_rank()
g = torch.Generator().manual_seed(0)
scores = torch.randn(16, 6, generator=g)  # the same full batch on every rank
teacher = [torch.randn(16, 6, generator=g) for _ in range(2)]
mine = slice(8 * rank, 8 * rank + 8)
codes = sinkhorn_knopp(scores[mine], epsilon=0.1, iterations=3)
loss = DINOLoss(6)
loss.update_center([t[mine] for t in teacher])
out = {"codes": codes.tolist(), "center": loss.center.tolist()}
with open(f"{sys.argv[1]}/rank{rank}.json", "w") as f:
    json.dump(out, f)
dist.barrier()
dist.destroy_process_group()
