"""Center loss and InfoNCE (xmr_core/losses.py)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from xmr_core.losses import CenterLoss, info_nce


def test_center_loss_value_and_facenet_update_with_repeated_label():
    cl = CenterLoss(num_classes=3, dim=2, alpha=0.5)
    assert torch.equal(cl.centers, torch.zeros(3, 2))
    assert "centers" in cl.state_dict() and len(list(cl.parameters())) == 0
    x = torch.tensor([[1.0, 2.0], [3.0, 4.0], [-2.0, 2.0]], requires_grad=True)
    y = torch.tensor([0, 0, 2])
    loss = cl(x, y)
    # mean of squares against the zero centres: (1+4+9+16+4+4)/6
    assert loss.item() == pytest.approx(38 / 6)
    # diff_i = (1-a)(c_yi - x_i); c_yi -= diff_i, both rows of label 0 subtract
    # c0 = 0 - (0.5*(0-[1,2]) + 0.5*(0-[3,4])) = [2, 3];  c2 = [-1, 1];  c1 untouched
    assert torch.allclose(cl.centers, torch.tensor([[2.0, 3.0], [0.0, 0.0], [-1.0, 1.0]]))
    loss.backward()  # the in-place update did not break autograd
    assert torch.allclose(x.grad, 2 * x.detach() / 6)

    # second batch: loss uses the centres before this batch's update
    loss2 = cl(torch.tensor([[4.0, 5.0]]), torch.tensor([0]))
    assert loss2.item() == pytest.approx(((4 - 2) ** 2 + (5 - 3) ** 2) / 2)
    assert torch.allclose(cl.centers[0], torch.tensor([3.0, 4.0]))  # [2,3] - 0.5*([2,3]-[4,5])


def test_center_loss_eval_does_not_update_and_default_alpha():
    cl = CenterLoss(4, 3)
    assert cl.alpha == 0.95
    cl.eval()
    cl(torch.ones(2, 3), torch.tensor([1, 1]))
    assert torch.equal(cl.centers, torch.zeros(4, 3))
    cl.train()
    cl(torch.ones(1, 3), torch.tensor([1]))
    assert torch.allclose(cl.centers[1], torch.full((3,), 0.05))


def test_center_loss_accepts_bf16_features():
    cl = CenterLoss(2, 4)
    loss = cl(torch.ones(2, 4, dtype=torch.bfloat16), torch.tensor([0, 1]))
    assert loss.dtype == torch.float32 and cl.centers.dtype == torch.float32


def test_softmax_plus_center_loss_falls_on_toy_problem():
    torch.manual_seed(0)
    n = 64
    y = torch.arange(n) % 2
    x = torch.randn(n, 2) * 0.5 + torch.stack([y * 3.0 - 1.5, torch.zeros(n)], 1)  # separable
    net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 4))
    clf = nn.Linear(4, 2)
    cl = CenterLoss(2, 4)  # alpha 0.95: ~8 repeats a label, 8 * 0.05 < 2 keeps the update stable
    opt = torch.optim.Adam(list(net.parameters()) + list(clf.parameters()), lr=1e-2)
    history, center_hist = [], []
    for step in range(60):
        idx = torch.randperm(n)[:16]
        feats = net(x[idx])
        c = cl(feats, y[idx])
        loss = F.cross_entropy(clf(feats), y[idx]) + 0.1 * c
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.item())
        center_hist.append(c.item())
    assert sum(history[-5:]) / 5 < 0.5 * sum(history[:5]) / 5
    assert (clf(net(x)).argmax(1) == y).float().mean() > 0.95
    assert center_hist[-1] < 1.0
    assert not torch.allclose(cl.centers[0], cl.centers[1])  # the centres have moved apart


def test_center_update_with_many_repeats_is_facenet_exact():
    # a label repeated k times moves k * (1 - alpha) of the way (facenet scatter_sub)
    cl = CenterLoss(1, 1, alpha=0.95)
    cl.centers.fill_(1.0)
    cl(torch.zeros(8, 1), torch.zeros(8, dtype=torch.long))
    assert cl.centers.item() == pytest.approx(1.0 - 8 * 0.05 * 1.0)


def _info_nce_loop(u, v, yl, tl, t):
    u, v = F.normalize(u, dim=1), F.normalize(v, dim=1)
    s = u @ v.t() / t
    i2t = [-(F.log_softmax(s[i], 0)[tl == yl[i]]).mean() for i in range(len(u)) if (tl == yl[i]).any()]
    t2i = [-(F.log_softmax(s[:, j], 0)[yl == tl[j]]).mean() for j in range(len(v)) if (yl == tl[j]).any()]
    return 0.5 * (torch.stack(i2t).mean() + torch.stack(t2i).mean())


def test_info_nce_matches_formula_and_prefers_aligned():
    torch.manual_seed(0)
    img = F.normalize(torch.randn(6, 16), dim=1)
    yl = torch.arange(6)
    tl = torch.arange(6).repeat_interleave(2)  # two captions per image
    txt = img[tl] + 0.1 * torch.randn(12, 16)
    aligned = info_nce(img, txt, yl, tl, 0.1)
    assert aligned.item() == pytest.approx(_info_nce_loop(img, txt, yl, tl, 0.1).item(), rel=1e-5)
    shuffled = info_nce(img, txt[torch.randperm(12)], yl, tl, 0.1)
    assert aligned.item() < shuffled.item()
    # an image without captions in the batch is ignored on the image side
    yl2 = torch.tensor([0, 1, 2, 3, 4, 5, 99])
    img2 = torch.cat([img, torch.randn(1, 16)])
    assert info_nce(img2, txt, yl2, tl, 0.1).item() == pytest.approx(
        _info_nce_loop(img2, txt, yl2, tl, 0.1).item(), rel=1e-5)


def test_info_nce_negative_weight_counts_a_negative_w_times():
    """negative_weight: a weighted negative counts w times in both softmaxes (its logit + log w); positives
    and other negatives as before, and weights of 1 change nothing."""
    e = torch.eye(2)
    t, w = 0.5, 4.0
    lab = torch.tensor([0, 1])
    ones = torch.ones(2, 2)
    assert info_nce(e, e, lab, lab, t, negative_weight=ones).item() == pytest.approx(info_nce(e, e, lab, lab, t).item())
    weight = torch.tensor([[1.0, w], [1.0, 1.0]])  # image 0 / text 1 weighted: in image 0's and text 1's softmax
    got = info_nce(e, e, lab, lab, t, negative_weight=weight).item()
    plain, heavy = math.log(1 + math.exp(-1 / t)), math.log(1 + w * math.exp(-1 / t))
    assert got == pytest.approx(0.5 * (0.5 * (heavy + plain) + 0.5 * (plain + heavy)), rel=1e-5)
    # a positive is never weighted, even where the weight says so
    rel = torch.tensor([[True, True], [False, True]])
    assert info_nce(e, e, lab, lab, t, rel, weight).item() == pytest.approx(info_nce(e, e, lab, lab, t, rel).item())


def test_info_nce_edge_cases():
    # one pair: the only candidate is the positive, loss 0
    assert info_nce(torch.randn(1, 4), torch.randn(1, 4), torch.tensor([3]), torch.tensor([3]), 0.1).item() == 0
    # no positives at all: 0 and still differentiable
    a = torch.randn(2, 4, requires_grad=True)
    loss = info_nce(a, torch.randn(3, 4), torch.tensor([0, 1]), torch.tensor([5, 6, 7]), 0.1)
    loss.backward()
    assert loss.item() == 0 and a.grad is not None
    # two orthogonal perfect pairs: loss = log(1 + e^{-1/T})
    e = torch.eye(2)
    t = 0.5
    val = info_nce(e, e, torch.tensor([0, 1]), torch.tensor([0, 1]), t).item()
    assert val == pytest.approx(math.log(1 + math.exp(-1 / t)), rel=1e-5)


def test_info_nce_relevance_adds_positives():
    """relevance marks further positives: a text that describes two pictures is not pushed from either."""
    torch.manual_seed(0)
    img = F.normalize(torch.randn(3, 8), dim=1)
    txt = torch.stack([img[0] + img[1], img[1], img[2]])  # text 0 describes pictures 0 and 1
    lab = torch.arange(3)
    rel = torch.zeros(3, 3, dtype=torch.bool)
    rel[1, 0] = True  # picture 1 <- text 0
    plain, multi = info_nce(img, txt, lab, lab, 0.1), info_nce(img, txt, lab, lab, 0.1, rel)
    same_as_labels = info_nce(img, txt, lab, lab, 0.1, torch.eye(3, dtype=torch.bool))
    assert same_as_labels.item() == pytest.approx(plain.item(), rel=1e-6)  # nothing new: unchanged
    pos = torch.eye(3, dtype=torch.bool) | rel
    u, v = F.normalize(img, dim=1), F.normalize(txt, dim=1)
    lg = u @ v.t() / 0.1

    def side(lg, p):
        lp = F.log_softmax(lg, 1)
        return (-(lp * p).sum(1) / p.sum(1)).mean()

    assert multi.item() == pytest.approx(0.5 * (side(lg, pos.float()) + side(lg.t(), pos.t().float())).item(), rel=1e-5)
    assert multi.item() != pytest.approx(plain.item(), rel=1e-3)


def test_short_queries_train_only_the_contrastive_term_when_asked():
    """short_query_losses="nce": the center loss and the words head read images and full captions only;
    the contrastive term reads every sample."""
    from xmr_core.config import TrainConfig
    from xmr_core.losses import Batch, CenterLoss, Outputs, text_info, training_losses

    torch.manual_seed(0)
    n_img, n_txt, d, n_words = 3, 6, 8, 5
    emb, words = torch.randn(n_img + n_txt, d), torch.randn(n_img + n_txt, n_words)
    labels = torch.tensor([0, 1, 2, 0, 0, 1, 1, 2, 2])
    targets = (torch.rand(3, n_words) > 0.5).float()
    centers = CenterLoss(3, d)
    centers.centers.normal_()
    short = torch.tensor([False, True, False, True, True, False])
    t_all = TrainConfig(contrastive_weight=1.0, words_weight=1.0, softmax_weight=0.0)
    t_nce = TrainConfig(contrastive_weight=1.0, words_weight=1.0, softmax_weight=0.0, short_query_losses="nce")
    out = Outputs(emb, None, words)
    info = text_info({"short": short, "relevance": None}, labels, n_img, t_nce, targets)
    rel, whole = info["text_relevance"], info["whole"]
    assert rel is None and info["own_words"] is None and whole.tolist() == [True] * 3 + (~short).tolist()
    assert set(text_info({"short": short, "relevance": None}, labels, n_img, t_all).values()) == {None}
    masked = training_losses(out, Batch(labels, n_img, centers, targets, **info), t_nce)
    plain = training_losses(out, Batch(labels, n_img, centers, targets), t_all)
    keep = whole
    sub = training_losses(Outputs(emb[keep], None, words[keep]), Batch(labels[keep], n_img, centers, targets), t_all)
    assert masked["center"].item() == pytest.approx(sub["center"].item(), rel=1e-6)
    assert masked["words"].item() == pytest.approx(sub["words"].item(), rel=1e-6)
    assert masked["nce"].item() == pytest.approx(plain["nce"].item(), rel=1e-6)  # every sample
    assert masked["center"].item() != pytest.approx(plain["center"].item(), rel=1e-3)


def test_short_queries_own_words_as_words_head_targets():
    """short_query_words="own": a short query's words-head target is its own words (collate's multi-hot),
    every other sample's its class's; a short query naming none of the head's words keeps its class's."""
    from xmr_core.config import TrainConfig
    from xmr_core.losses import Batch, CenterLoss, Outputs, text_info, training_losses, words_loss

    torch.manual_seed(0)
    n_img, n_words = 2, 4
    labels = torch.tensor([0, 1, 0, 0, 1, 1])
    targets = torch.tensor([[1.0, 1.0, 1.0, 0.0], [0.0, 1.0, 0.0, 1.0]])
    short = torch.tensor([False, True, True, False])
    own = torch.tensor([[1.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0]])
    t = TrainConfig(words_weight=1.0, softmax_weight=0.0, words_loss="softmax", short_query_words="own")
    info = text_info({"short": short, "relevance": None, "words": own}, labels, n_img, t, targets)
    want = targets[labels].clone()
    want[n_img + 1] = own[1]  # the short query with words of its own; the one without keeps its class's
    assert torch.equal(info["own_words"], want)
    words = torch.randn(6, n_words)
    got = training_losses(Outputs(torch.randn(6, 8), None, words), Batch(labels, n_img, CenterLoss(2, 8), targets,
                                                                          **info), t)
    assert got["words"].item() == pytest.approx(words_loss(words, want, "softmax").item(), rel=1e-6)


def test_max_violation_matches_the_loop_and_only_the_hardest_negative_counts():
    """VSE++'s max of hinges against a plain loop over the positive pairs; moving a negative that is not
    the hardest changes nothing; no positive pair gives 0 with a gradient; relevance adds positives."""
    from xmr_core.losses import max_violation

    torch.manual_seed(0)
    img, txt = torch.randn(3, 6), torch.randn(5, 6)
    il, tl = torch.tensor([0, 1, 2]), torch.tensor([0, 0, 1, 2, 3])
    s = torch.nn.functional.normalize(img, dim=1) @ torch.nn.functional.normalize(txt, dim=1).t()
    pos = il.view(-1, 1) == tl.view(1, -1)
    costs = []
    for i in range(3):
        for j in range(5):
            if pos[i, j]:
                hn_t = max(float(s[i, k]) for k in range(5) if not pos[i, k])
                hn_i = max(float(s[m, j]) for m in range(3) if not pos[m, j])
                costs.append(max(0.0, 0.2 - float(s[i, j]) + hn_t) + max(0.0, 0.2 - float(s[i, j]) + hn_i))
    assert max_violation(img, txt, il, tl).item() == pytest.approx(sum(costs) / len(costs), rel=1e-5)
    # text 4 (label 3) has no image: it is a negative of every image; make it the hardest of image 0 ...
    txt2 = txt.clone()
    txt2[4] = img[0] * 3
    assert max_violation(img, txt2, il, tl).item() > max_violation(img, txt, il, tl).item()
    # ... then any other move of a non-hardest negative leaves image 0's hinge as it was
    txt3 = txt2.clone()
    txt3[3] = txt3[3] * 0.5
    a = max_violation(img[:1], txt2[[0, 1, 4]], il[:1], tl[[0, 1, 4]])
    b = max_violation(img[:1], txt3[[0, 1, 4]], il[:1], tl[[0, 1, 4]])
    assert a.item() == pytest.approx(b.item())
    none = max_violation(img, txt, il, tl + 10)
    assert none.item() == 0.0
    x = img.clone().requires_grad_(True)
    max_violation(x, txt, il, tl + 10).backward()
    assert x.grad is not None and float(x.grad.abs().sum()) == 0.0
    rel = torch.zeros(3, 5, dtype=torch.bool)
    rel[1, 0] = True  # text 0 also describes image 1
    assert max_violation(img, txt, il, tl, relevance=rel).item() != pytest.approx(max_violation(img, txt, il, tl).item())


def test_hard_negative_term_is_weighted_into_the_loss():
    """hard_negative_weight > 0 adds the "hard" term, weighted, to the total; 0 leaves it out."""
    from xmr_core.config import TrainConfig
    from xmr_core.losses import Batch, CenterLoss, Outputs, max_violation, training_losses

    torch.manual_seed(1)
    emb, labels = torch.randn(6, 8), torch.tensor([0, 1, 0, 0, 1, 1])
    out, batch = Outputs(emb, None, None), Batch(labels, 2, CenterLoss(2, 8), None)
    off = training_losses(out, batch, TrainConfig(softmax_weight=0.0, contrastive_weight=1.0))
    on = training_losses(out, batch, TrainConfig(softmax_weight=0.0, contrastive_weight=1.0,
                                                 hard_negative_weight=2.0, hard_negative_margin=0.3))
    assert "hard" not in off
    want = max_violation(emb[:2], emb[2:], labels[:2], labels[2:], 0.3)
    assert on["hard"].item() == pytest.approx(want.item(), rel=1e-6)
    assert on["loss"].item() == pytest.approx(off["loss"].item() + 2.0 * want.item(), rel=1e-5)
