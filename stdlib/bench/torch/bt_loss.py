"""The Barlow Twins loss bt() of /work/shared/bench/torch_ssl_peer.py and its
training step, shared by the twins bt_step.py and cnn_bt_step.py."""
import torch


def std(z):
    return (z - z.mean(0)) / (z.std(0) + 1e-6)


def bt(zs, lam):
    """The mean Barlow Twins loss over all pairs of views."""
    tot, k = 0, 0
    for i in range(len(zs)):
        for j in range(i + 1, len(zs)):
            c = std(zs[i]).T @ std(zs[j]) / zs[i].shape[0]
            on = (torch.diagonal(c) - 1).pow(2).sum()
            off = (c - torch.diag(torch.diagonal(c))).pow(2).sum()
            tot = tot + on + lam * off
            k += 1
    return tot / k


def bt_step(enc, proj, views, lam):
    """Returns one Adam step (lr 1e-3) of Barlow Twins on encoder | projector
    over the fixed views: one forward pass per view (so each batch norm uses
    that view's statistics), bt(), zero_grad, backward, step; it returns the
    loss."""
    opt = torch.optim.Adam(list(enc.parameters()) + list(proj.parameters()), lr=1e-3)

    def step():
        loss = bt([proj(enc(x)) for x in views], lam)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.detach()
    return step
