"""PyTorch side of `npm run bench`: the same cases as bench/cases.ts, median and best
milliseconds. The best is PyTorch without its page faults: glibc hands the freed outputs of a
large op back to the kernel and faults them in again on the next call in some iterations and
not others (BatchNorm fwd+bwd at 1 thread: 20 or 35 ms per call), so its median moves
between runs.

Usage: /usr/bin/python3 bench/torch_bench.py THREADS REPS   (every case; one JSON object)
       /usr/bin/python3 bench/torch_bench.py --serve             (one case a request)
With --serve it reads lines "CASE THREADS REPS" and answers each with a JSON line, so that
`npm run bench` times each case here right after normkit's, seconds apart rather than
minutes: this VM's speed drifts by 10-15 % within an hour, and the ratios with it.
"""
import json, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

serve = sys.argv[1:] == ["--serve"]
threads, reps = (1, 10) if serve else (int(sys.argv[1]), int(sys.argv[2]))
torch.set_num_threads(threads)
torch.manual_seed(0)
N, C, H, W = 32, 64, 56, 56


cases = {}  # name -> (fn, its rule for the call count or None, warmup calls)


def bench(name, fn, reps=None, warmup=2):
    """Registers a case: fn is one call, which sets any mode it needs itself; reps, when
    given, maps the requested call count to this case's (the slow convolution's)."""
    cases[name] = (fn, reps, warmup)


def time_case(name, n):
    """The median and the fastest of n calls of a case, in ms."""
    fn, _, warmup = cases[name]
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append((time.perf_counter() - t0) * 1000)
    ts.sort()
    return ts[len(ts) // 2], ts[0]


def no_grad(fn):
    def run():
        with torch.no_grad():
            return fn()
    return run


x = torch.randn(N, C, H, W)
dy = torch.randn(N, C, H, W)


def fwd_bwd(module, x=x, dy=dy):
    xg = x.clone().requires_grad_(True)
    def run():
        xg.grad = None
        for p in module.parameters():
            p.grad = None
        module(xg).backward(dy)
    return run


bn = nn.BatchNorm2d(C)
bench("bn2d_train_fwd", no_grad(lambda: bn(x)))
bench("bn2d_train_fwdbwd", fwd_bwd(bn))
bn_eval = nn.BatchNorm2d(C).eval()
bench("bn2d_eval_fwd", no_grad(lambda: bn_eval(x)))
bench("bn1d_fwdbwd", fwd_bwd(nn.BatchNorm1d(512), torch.randn(4096, 512), torch.randn(4096, 512)))
bench("layernorm_fwdbwd", fwd_bwd(nn.LayerNorm([C, H, W])))
bench("groupnorm32_fwdbwd", fwd_bwd(nn.GroupNorm(32, C)))
bench("instancenorm2d_fwdbwd", fwd_bwd(nn.InstanceNorm2d(C)))

class RMSNorm(nn.Module):
    """PyTorch 1.13 has no nn.RMSNorm (added in 2.4): the usual composition."""

    def __init__(self, shape, eps=torch.finfo(torch.float32).eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(shape))
        self.dims = tuple(range(-len(shape), 0))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(self.dims, keepdim=True) + self.eps) * self.weight


bench("rmsnorm_fwdbwd", fwd_bwd(RMSNorm([C, H, W])))

a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
bench("gemm_1024", lambda: torch.mm(a, b))

conv = nn.Conv2d(C, C, 3, padding=1)
bench("conv3x3_64_fwdbwd", fwd_bwd(conv), reps=lambda n: max(3, n // 3), warmup=1)

model = nn.Sequential(
    nn.Conv2d(1, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
    nn.Conv2d(32, 64, 3, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
    nn.Flatten(), nn.Linear(64 * 49, 128, bias=False), nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 10),
)
opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True)
xb, yb = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
def step():
    model.train()
    opt.zero_grad()
    F.cross_entropy(model(xb), yb).backward()
    opt.step()
bench("cnn_train_step_b64", step)

# Sequence and generative layers (issue 13's speed targets): the same shapes as bench/cases.ts.
lstm = nn.LSTM(28, 128)
xs = torch.randn(28, 64, 28, requires_grad=True)
dys = torch.randn(28, 64, 128)
def lstm_step():
    xs.grad = None
    lstm.zero_grad(set_to_none=True)
    lstm(xs)[0].backward(dys)
bench("lstm_fwdbwd", lstm_step)

enc = nn.TransformerEncoderLayer(128, 4, dim_feedforward=512, dropout=0.0, batch_first=True)
xt = torch.randn(64, 28, 128, requires_grad=True)
dyt = torch.randn(64, 28, 128)
def enc_step():
    xt.grad = None
    enc.zero_grad(set_to_none=True)
    enc(xt).backward(dyt)
bench("transformer_layer_fwdbwd", enc_step)

convt = nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1)
xc = torch.randn(64, 64, 7, 7, requires_grad=True)
dyc = torch.randn(64, 32, 14, 14)
def convt_step():
    xc.grad = None
    convt.zero_grad(set_to_none=True)
    convt(xc).backward(dyc)
bench("convtranspose_fwdbwd", convt_step)

# The README CNN's inference (normkit's cnn_eval_b*; PyTorch's side unfolded).
def evaluate(xe):
    def run():
        model.eval()
        with torch.no_grad():
            return model(xe)
    return run
for batch in (64, 1):
    bench(f"cnn_eval_b{batch}", evaluate(torch.randn(batch, 1, 28, 28)))

if serve:
    for line in sys.stdin:
        name, t, n = line.split()
        torch.set_num_threads(int(t))
        if name not in cases:
            print(json.dumps({"name": name, "error": "no such case"}), flush=True)
            continue
        ms, fastest = time_case(name, int(n))
        print(json.dumps({"name": name, "ms": ms, "best": fastest}), flush=True)
else:
    out, best = {}, {}
    for name, (_, r, _) in cases.items():
        n = reps if r is None else r(reps)
        out[name], best[name] = time_case(name, n)
    print(json.dumps({"torch": torch.__version__, "threads": threads, "ms": out, "best": best}))
