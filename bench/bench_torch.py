"""bench/bench_torch.py: the peer of bench/bench.c in PyTorch (Debian's python3-torch), the
framework a user would pick instead: the same nets, built from the same cfgs, the same batch,
optimiser (Adam, lr 1e-3) and thread count, synthetic data, and the same RESULT line.

  /usr/bin/python3 bench/bench_torch.py MODE BATCH SECS THREADS [CFG_DIR]
      MODE: teacher_train student_train infer          (bench/run.sh runs it with PEERS=1)

The cfgs are read, not copied: cfg/mnist_teacher.cfg (the paper's Table 7 net) and
cfg/mnist_student.cfg become torch modules layer by layer ([convolutional], [maxpool],
[connected], [softmax], [route], [batchnorm]; for the student also [serial_stamp] roles,
[distill_kl] temperature/hard/push, [gradient_reversal] and [masked_softmax]). A training step is
what Darknet's train_network does for that cfg:
  teacher  forward, softmax cross-entropy, backward, Adam
  student  the stamp on the batch by roles (valid, forged, near, raw), G_e and G_y, the teacher
           (freshly initialised, as bench.c's) on the raw images of the valid rows, the KD loss
           (T^2 KL at temperature T, plus `hard` x cross-entropy) on valid rows and the push of
           G_y towards uniform on the others, G_d on every row behind the gradient reversal with
           its cross-entropy on the I=0 rows, backward, Adam
  infer    forward of the teacher under inference_mode
Timing as bench.c: warm-up (>= 2 iterations and >= 0.3 s), then >= SECS seconds and >= 3
iterations; img/s over the timed wall time. mflop_img counts the same GEMM work as bench.c. """
import math
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

WARM_SECS, WARM_ITERS, MIN_ITERS = 0.3, 2, 3


def read_cfg(path):
    """[(section, {key: value})], [net] first, as Darknet reads it."""
    secs = []
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("["):
                secs.append((line.strip("[]"), {}))
            elif "=" in line and secs:
                k, v = line.split("=", 1)
                secs[-1][1][k.strip()] = v.strip()
    return secs


def act(name):
    return {"relu": nn.ReLU(), "linear": nn.Identity(), "leaky": nn.LeakyReLU(0.1), "logistic": nn.Sigmoid()}[name]


class GRL(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, lam):
        ctx.lam = lam
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return -ctx.lam * g, None


class CfgNet(nn.Module):
    """The layers of a Darknet cfg; forward returns every layer's output (routes index them)."""

    def __init__(self, secs):
        super().__init__()
        net = secs[0][1]
        c, h, w = int(net.get("channels", 1)), int(net["height"]), int(net["width"])
        self.kinds, self.opts, mods, shapes = [], [], [], []
        self.mflop_fwd, self.mflop_bwd = 0.0, 0.0
        has_delta = False       # does the layer below pass a gradient down (bench.c's input_grad)
        for kind, o in secs[1:]:
            m, out = nn.Identity(), (c, h, w)
            if kind == "convolutional":
                n, k, s = int(o["filters"]), int(o.get("size", 1)), int(o.get("stride", 1))
                p = k // 2 if int(o.get("pad", 0)) else int(o.get("padding", 0))
                m = nn.Sequential(nn.Conv2d(c, n, k, s, p), act(o.get("activation", "logistic")))
                out = (n, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)
                f = 2.0 * n * k * k * c * out[1] * out[2] / 1e6
            elif kind == "connected":
                n, inp = int(o["output"]), c * h * w
                m = nn.Sequential(nn.Flatten(), nn.Linear(inp, n), act(o.get("activation", "logistic")))
                out, f = (n, 1, 1), 2.0 * inp * n / 1e6
            elif kind == "maxpool":
                k, s = int(o.get("size", 2)), int(o.get("stride", 2))
                pad = int(o.get("padding", k - 1))
                m = nn.MaxPool2d(k, s, padding=pad // 2, ceil_mode=pad % 2 == 1)
                out = (c, (h + pad - k) // s + 1, (w + pad - k) // s + 1)
            elif kind == "batchnorm":
                m = nn.BatchNorm1d(c) if h == w == 1 else nn.BatchNorm2d(c)
            elif kind == "route":
                src = [int(x) for x in o["layers"].split(",")]
                src = [x if x >= 0 else len(mods) + x for x in src]
                out = shapes[src[0]]
                o = dict(o, src=src)
            if kind in ("convolutional", "connected"):
                self.mflop_fwd += f
                self.mflop_bwd += (2 if has_delta else 1) * f
                has_delta = True
            elif kind == "serial_stamp":
                has_delta = False
            mods.append(m)
            shapes.append(out)
            self.kinds.append(kind)
            self.opts.append(o)
            c, h, w = out
        self.layers = nn.ModuleList(mods)

    def forward(self, x, lam=1.0, upto=None):
        outs = []
        for i, (kind, o, m) in enumerate(zip(self.kinds, self.opts, self.layers)):
            if kind == "route":
                x = torch.cat([outs[j] for j in o["src"]], 1)
            elif kind == "gradient_reversal":
                x = GRL.apply(x, lam)
            elif kind in ("softmax", "distill_kl", "masked_softmax", "serial_stamp"):
                pass    # losses and the stamp are applied by the training step
            else:
                x = m(x)
            outs.append(x)
            if upto is not None and i == upto:
                break
        return outs


def fraction_counts(batch, fracs):
    """Rows per role by exact fractions (largest remainder), as [serial_stamp] assigns them."""
    quota = [f * batch for f in fracs]
    n = [int(math.floor(q + 1e-9)) for q in quota]
    for i in sorted(range(len(n)), key=lambda i: n[i] - quota[i])[: batch - sum(n)]:
        n[i] += 1
    return n


class Student:
    def __init__(self, secs, teacher_secs, batch):
        self.net = CfgNet(secs)
        self.teacher = CfgNet(teacher_secs).eval()
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        kinds = self.net.kinds
        stamp = self.net.opts[kinds.index("serial_stamp")]
        self.kd_at = kinds.index("distill_kl")
        kd = self.net.opts[self.kd_at]
        self.T, self.hard, self.push = float(kd.get("temperature", 4)), float(kd.get("hard", 0)), float(kd.get("push", 0))
        self.gd_at = kinds.index("masked_softmax")
        grl = self.net.opts[kinds.index("gradient_reversal")]
        self.lam = float(grl.get("lambda", 1))
        self.bits = int(stamp.get("bits", 64))
        fr = [float(stamp.get(k, 0)) for k in ("valid", "forged", "near")]
        self.counts = fraction_counts(batch, fr + [max(0.0, 1 - sum(fr))])
        self.near_max = int(stamp.get("near_max", 4))
        # the grid: `columns` wide (0: square), as many rows as the bits need, in the bottom-right corner
        self.cols = int(stamp.get("columns", 0)) or int(math.ceil(math.sqrt(self.bits)))
        self.rows = (self.bits + self.cols - 1) // self.cols
        self.serial = torch.randint(0, 2, (self.bits,)).float()
        self.teacher_mflop = self.teacher.mflop_fwd * self.counts[0] / batch

    def stamp(self, x):
        """The batch with its roles: valid rows get the serial, forged a random one, near the serial
        with 1..near_max bits flipped, raw nothing; (x, valid rows, I=0 rows)."""
        b = x.shape[0]
        nv, nf, nn_, _ = self.counts
        perm = torch.randperm(b)
        v, f, n, r = perm[:nv], perm[nv:nv + nf], perm[nv + nf:nv + nf + nn_], perm[nv + nf + nn_:]
        s = torch.zeros(b, self.rows * self.cols)
        s[v, : self.bits] = self.serial
        s[f, : self.bits] = torch.randint(0, 2, (len(f), self.bits)).float()
        flips = torch.rand(len(n), self.bits).argsort(1) < torch.randint(1, self.near_max + 1, (len(n), 1))
        s[n, : self.bits] = torch.where(flips, 1 - self.serial, self.serial)
        xs = x.clone()
        st = torch.cat([v, f, n])
        xs[st, :, -self.rows:, -self.cols:] = s[st].view(-1, 1, self.rows, self.cols)
        return xs, v, torch.cat([f, n, r])

    def loss(self, x, y):
        xs, v, neg = self.stamp(x)
        with torch.no_grad():
            t_logits = self.teacher(x[v])[-2]            # the teacher's last layer before [softmax]
        outs = self.net(xs, self.lam)
        logits = outs[self.kd_at - 1]                  # G_y
        T = self.T
        kd = F.kl_div(F.log_softmax(logits[v] / T, 1), F.softmax(t_logits / T, 1), reduction="batchmean") * T * T
        loss = kd + self.hard * F.cross_entropy(logits[v], y[v])
        if self.push > 0:
            loss = loss + self.push * (-F.log_softmax(logits[neg], 1).mean(1) - math.log(logits.shape[1])).mean()
        gd = outs[self.gd_at - 1]                      # G_d on every row, its loss on the I=0 rows
        return loss + F.cross_entropy(gd[neg], y[neg])


def timed(step, secs):
    n, t0 = 0, time.perf_counter()
    while n < WARM_ITERS or time.perf_counter() - t0 < WARM_SECS:
        step()
        n += 1
    n, t0 = 0, time.perf_counter()
    while True:
        out = step()
        n += 1
        t = time.perf_counter() - t0
        if n >= MIN_ITERS and t >= secs:
            return t, n, out


def main():
    if len(sys.argv) < 5:
        sys.exit("usage: bench_torch.py teacher_train|student_train|infer BATCH SECS THREADS [CFG_DIR]")
    mode, batch, secs, threads = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
    cfgdir = sys.argv[5] if len(sys.argv) > 5 else "cfg"
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    teacher_secs = read_cfg(os.path.join(cfgdir, "mnist_teacher.cfg"))
    net0 = teacher_secs[0][1]
    shape = (batch, int(net0.get("channels", 1)), int(net0["height"]), int(net0["width"]))
    x, y = torch.rand(shape), torch.randint(0, 10, (batch,))

    if mode == "student_train":
        st = Student(read_cfg(os.path.join(cfgdir, "mnist_student.cfg")), teacher_secs, batch)
        model, loss_fn = st.net, st.loss
        mflop = st.net.mflop_fwd + st.net.mflop_bwd + st.teacher_mflop
    elif mode in ("teacher_train", "infer"):
        model = CfgNet(teacher_secs)
        loss_fn = lambda x, y: F.cross_entropy(model(x)[-2], y)   # [softmax] + Darknet's cost
        mflop = model.mflop_fwd + (model.mflop_bwd if mode == "teacher_train" else 0)
    else:
        sys.exit("bench_torch.py: unknown mode " + mode)

    if mode == "infer":
        model.eval()
        with torch.inference_mode():
            t, n, _ = timed(lambda: model(x, upto=len(model.kinds) - 1), secs)
        loss = None
    else:
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)

        def step():
            opt.zero_grad(set_to_none=True)
            l = loss_fn(x, y)
            l.backward()
            opt.step()
            return l

        t, n, loss = timed(step, secs)
        if not math.isfinite(loss.item()):
            sys.exit("bench_torch.py: the loss is %g: the measurement is not of a working net" % loss.item())
    print("RESULT mode=%s batch=%d img_s=%.2f mflop_img=%.3f iters=%d secs=%.3f%s threads=%d torch=%s"
          % (mode, batch, batch * n / t, mflop, n, t, "" if loss is None else " loss=%.4f" % loss.item(),
             torch.get_num_threads(), torch.__version__))


if __name__ == "__main__":
    main()
