"""Weight inheritance against fresh initialisation: steps to the same validation perplexity, and whether the ranking holds.

One generation of a search, done both ways: `--parents` random genes of the preset's space are trained from scratch
(replicates 0..R-1) and their weights kept; `--children` distinct children are bred from the better half as the
search breeds them (crossover with the preset's rate, then mutation). Each child is trained on the same seed
(replicate r) twice: from its own initial values, and from its parents' replicate-r weights
(`evo_attention.inheritance`). Every `--eval-every` steps both runs measure the validation perplexity.

Reported: for each child and replicate, the first step at which the inherited run reaches the fresh run's final
perplexity (and the step at which the fresh run first did); Kendall's tau (scipy.stats.kendalltau, with its p-value)
between the children's fresh and inherited final perplexities per replicate, and — as the reference for how much a
ranking moves anyway — between two fresh replicates (two seeds) of the same children.

    python benchmarks/inheritance.py --preset smoke --parents 8 --children 12 --replicates 2 --eval-every 10
    python benchmarks/inheritance.py --preset cpu --train-file ../shared/data/wikitext-2/train.txt \\
        --valid-file ../shared/data/wikitext-2/valid.txt --parents 4 --children 6 --replicates 1 --eval-every 50
"""
import argparse, json, math, random, statistics, tempfile, time
import torch
from scipy.stats import kendalltau
from evo_attention.config import PRESETS, preset_config
from evo_attention.data import get_data
from evo_attention.gene import SearchSpace
from evo_attention.inheritance import InheritWeights, KeepWeights
from evo_attention.train import evaluate, train_and_evaluate

def trained(gene, cfg, data, replicate, init=None):
    "Train `gene` and measure the validation perplexity at every loss read (every `cfg.log_interval` steps)."
    held, curve = {}, []
    def start(model):
        if init is not None: init(model)
        held['model'] = model
    def read(step, loss):
        if step > 1: curve.append((step, math.exp(min(evaluate(held["model"], data, cfg), 700))))   # evaluation draws no random numbers
    m = train_and_evaluate(gene, cfg, data, replicate=replicate, init=start, on_log=read)
    got = getattr(held['model'], 'inheritance', {})          # what InheritWeights copied
    return dict(perplexity=m['perplexity'], curve=curve, seconds=m['seconds'], params=m['params'],
                inherited_params=got.get('inherited_params', 0), inherited_from=got.get('inherited_from', []))

def first_step(curve, target):
    "The first step whose validation perplexity is at most `target` (None: never)."
    return next((s for s, p in curve if p <= target * (1 + 1e-9)), None)

def breed(parents, space, cfg, n, rng):
    "`n` distinct children of the better half, not equal to a parent: crossover with the preset's rate, then mutation."
    half, seen, kids = parents[:max(2, len(parents) // 2)], {g.id for g, _ in parents}, []
    for _ in range(200 * n):
        if len(kids) == n: break
        (a, _), (b, _) = rng.sample(half, 2)
        cross = rng.random() < cfg.crossover_rate           # else a copy of the first parent (as the search does)
        child = space.mutate(space.crossover(a, b, rng) if cross else a, cfg.mutation_rate, rng)
        if child.id not in seen: seen.add(child.id); kids.append((child, (a.id, b.id) if cross else (a.id,)))
    return kids

def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--preset', default='smoke', choices=list(PRESETS))
    ap.add_argument('--parents', type=int, default=8)
    ap.add_argument('--children', type=int, default=12)
    ap.add_argument('--replicates', type=int, default=2)
    ap.add_argument('--eval-every', type=int, default=10, help='steps between validation perplexity reads')
    ap.add_argument('--steps', type=int, default=None, help="training steps (default: the preset's)")
    ap.add_argument('--seed', type=int, default=0, help='the random genes and breeding')
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--train-file'); ap.add_argument('--valid-file')
    ap.add_argument('--out', help='write the raw results (JSON) here')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    over = dict(device='cpu', log_interval=a.eval_every, **({'train_steps': a.steps} if a.steps else {}))
    cfg = preset_config(a.preset, **over)
    data = get_data(PRESETS[a.preset]['data'], vocab_size=cfg.vocab_size, max_seq_len=cfg.max_seq_len,
                    train_file=a.train_file, valid_file=a.valid_file)
    space, rng, run = SearchSpace.of_preset(a.preset), random.Random(a.seed), tempfile.mkdtemp(prefix='inherit-')
    R = range(a.replicates)
    t0 = time.time()
    print(f"{a.preset}: {cfg.train_steps} steps, d_model {cfg.d_model}, data {getattr(data, 'name', 'data')}, "
          f"{a.parents} parents, {a.children} children, {a.replicates} replicate(s), {a.threads} thread(s)", flush=True)
    parents = []
    for _ in range(a.parents):
        g = space.sample(rng)
        ppl = statistics.fmean(train_and_evaluate(g, cfg, data, replicate=r, on_trained=KeepWeights(run))['perplexity'] for r in R)
        parents.append((g, ppl)); print(f"parent {ppl:8.3f}  {g.id}", flush=True)
    parents.sort(key=lambda x: x[1])
    rows = []
    for child, par in breed(parents, space, cfg, a.children, rng):
        row = dict(gene=child.id, parents=par, fresh=[], inherited=[])
        for r in R:
            row['fresh'].append(trained(child, cfg, data, r))
            row['inherited'].append(trained(child, cfg, data, r, init=InheritWeights(run, par, r)))
        rows.append(row)
        f, i = row['fresh'][0], row['inherited'][0]
        print(f"child fresh {f['perplexity']:8.3f} (reached at {first_step(f['curve'], f['perplexity'])}) inherited "
              f"{i['perplexity']:8.3f} (reaches it at {first_step(i['curve'], f['perplexity'])}; {i['inherited_params']}/{i['params']} "
              f"params from {len(i['inherited_from'])} parent(s))  {child.id}", flush=True)
    print(f"\n{len(rows)} children, {time.time() - t0:.0f} s in all\n")
    steps_f, steps_i, never, ratios = [], [], 0, []
    for row in rows:
        for f, i in zip(row['fresh'], row['inherited']):
            sf, si = first_step(f['curve'], f['perplexity']), first_step(i['curve'], f['perplexity'])
            steps_f.append(sf)
            if si is None: never += 1
            else: steps_i.append(si); ratios.append(sf / si)
    n = len(steps_f)
    print(f"fresh runs reach their final perplexity at step: median {statistics.median(steps_f):.0f} (of {cfg.train_steps})")
    if steps_i:
        print(f"inherited runs reach it in {n - never}/{n} cases, at step: median {statistics.median(steps_i):.0f}, "
              f"quartiles {statistics.quantiles(steps_i, n=4) if len(steps_i) > 1 else steps_i}; "
              f"steps saved: fresh/inherited median {statistics.median(ratios):.2f}x")
    else: print(f"inherited runs never reach the fresh runs' final perplexity ({n} cases)")
    share = statistics.fmean(row['inherited'][0]['inherited_params'] / row['inherited'][0]['params'] for row in rows)
    print(f"share of parameters inherited: mean {share:.2f}")
    result = dict(args=vars(a), config=cfg.to_dict(), parents=[(g.id, p) for g, p in parents], children=rows, tau={})
    for r in R:
        fr = [row['fresh'][r]['perplexity'] for row in rows]
        ir = [row['inherited'][r]['perplexity'] for row in rows]
        t = kendalltau(fr, ir)
        result['tau'][f'fresh{r}-inherited{r}'] = (t.statistic, t.pvalue)
        print(f"replicate {r}: Kendall tau(fresh, inherited) = {t.statistic:+.3f} (p = {t.pvalue:.3g}); "
              f"inherited better in {sum(i < f for f, i in zip(fr, ir))}/{len(rows)}")
    if a.replicates > 1:
        for x, y in [(0, 1)]:
            t = kendalltau([row['fresh'][x]['perplexity'] for row in rows], [row['fresh'][y]['perplexity'] for row in rows])
            result['tau'][f'fresh{x}-fresh{y}'] = (t.statistic, t.pvalue)
            print(f"reference: Kendall tau(fresh replicate {x}, fresh replicate {y}) = {t.statistic:+.3f} (p = {t.pvalue:.3g})")
            t = kendalltau([row['inherited'][x]['perplexity'] for row in rows], [row['inherited'][y]['perplexity'] for row in rows])
            result['tau'][f'inherited{x}-inherited{y}'] = (t.statistic, t.pvalue)
            print(f"reference: Kendall tau(inherited replicate {x}, inherited replicate {y}) = {t.statistic:+.3f} (p = {t.pvalue:.3g})")
        mf = [statistics.fmean(f['perplexity'] for f in row['fresh']) for row in rows]
        mi = [statistics.fmean(i['perplexity'] for i in row['inherited']) for row in rows]
        t = kendalltau(mf, mi)
        result['tau']['fresh_mean-inherited_mean'] = (t.statistic, t.pvalue)
        print(f"means over replicates: Kendall tau(fresh, inherited) = {t.statistic:+.3f} (p = {t.pvalue:.3g})")
    print("\nthe inherited runs cut short (validation perplexity at a step) against the fresh runs' final ranking:")
    reads = [s for s, _ in rows[0]['inherited'][0]['curve']]
    wanted = {cfg.train_steps // 10, cfg.train_steps // 4, cfg.train_steps // 2, cfg.train_steps} | ({int(statistics.median(steps_i))} if steps_i else set())
    for step in sorted({next(s for s in reads if s >= w) for w in wanted}):          # steps where the perplexity was read
        for r in R:
            at = [next((p for s, p in row['inherited'][r]['curve'] if s >= step), math.nan) for row in rows]
            fat = [next((p for s, p in row['fresh'][r]['curve'] if s >= step), math.nan) for row in rows]
            t, tf = kendalltau([row['fresh'][r]['perplexity'] for row in rows], at), kendalltau([row['fresh'][r]['perplexity'] for row in rows], fat)
            result['tau'][f'fresh{r}-inherited{r}@{step}'] = (t.statistic, t.pvalue)
            print(f"  step {step:4d}, replicate {r}: tau = {t.statistic:+.3f} (p = {t.pvalue:.3g})   [fresh run at that step: {tf.statistic:+.3f}]")
    par = dict((g.id, p) for g, p in parents)
    pm = [statistics.fmean(par[p] for p in row['parents']) for row in rows]
    for way in ('fresh', 'inherited'):
        t = kendalltau(pm, [statistics.fmean(x['perplexity'] for x in row[way]) for row in rows])
        result['tau'][f'parents-{way}'] = (t.statistic, t.pvalue)
        print(f"the parents' mean perplexity against the children's {way} perplexity: tau = {t.statistic:+.3f} (p = {t.pvalue:.3g})")
    if a.out:
        with open(a.out, 'w') as f: json.dump(result, f, indent=1)

if __name__ == '__main__': main()
