using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using Engine.Kernels.Gpu;

namespace Engine.Kernels.RL;

/// <summary>
/// ILGPU kernels for the RL math (RlCpu is the reference): GAE as one thread per sequence doing the
/// reverse scan in a single pass over r, V, mask; elementwise surrogate and KL; one warp per row for
/// entropy and for the fused policy-loss kernel, whose statistics pass keeps an online max, Σe^(z−m)
/// and Σe^(z−m)·z per lane (merged by shuffles) so it reads the row once before writing dlogits.
/// </summary>
public static class RlGpu
{
    static float Clamp(float x, float lo, float hi) => x < lo ? lo : x > hi ? hi : x;

    static void GaeKernel(Index1D b, ArrayView<float> r, ArrayView<float> v, ArrayView<float> mask,
        ArrayView<float> adv, ArrayView<float> ret,
        int steps, float gamma, float lambda)
    {
        float next = 0f, last = 0f;
        long o = (long)(int)b * steps;
        for (int t = steps - 1; t >= 0; t--)
        {
            long i = o + t;
            float vi = v[i];
            float delta = r[i] + gamma * next - vi;
            float gae = delta + gamma * lambda * last;
            float a = last;
            if (mask[i] != 0f) { a = gae; next = vi; last = gae; }
            adv[i] = a;
            ret[i] = a + vi;
        }
    }

    static void GroupKernel(Index1D g, ArrayView<float> s, ArrayView<float> adv, int groupSize, int kind, float epsilon)
    {
        int o = g * groupSize;
        float sum = 0f;
        for (int i = 0; i < groupSize; i++) sum += s[o + i];
        float mean = groupSize == 1 ? 0f : sum / groupSize;
        float var = 0f;
        for (int i = 0; i < groupSize; i++) var += (s[o + i] - mean) * (s[o + i] - mean);
        float std = groupSize == 1 ? 1f : XMath.Sqrt(var / (groupSize - 1));
        for (int i = 0; i < groupSize; i++)
        {
            float x = s[o + i];
            adv[o + i] = kind == 0 ? (x - mean) / (std + epsilon)
                : kind == 2 ? (groupSize == 1 ? x : (groupSize * x - sum) / (groupSize - 1))
                : x - mean;
        }
    }

    struct Surrogate { public float Loss, Grad, Clipped, ApproxKl; }

    static Surrogate ClippedOne(float logp, float oldLogp, float a, float clipLow, float clipHigh, float dualClip)
    {
        float raw = logp - oldLogp;
        float logRatio = Clamp(raw, -20f, 20f);
        float ratio = XMath.Exp(logRatio);
        float pg1 = -a * ratio, pg2 = -a * Clamp(ratio, 1f - clipLow, 1f + clipHigh);
        Surrogate s;
        s.Loss = pg1 > pg2 ? pg1 : pg2;
        s.Grad = pg1 >= pg2 && raw == logRatio ? -a * ratio : 0f;
        if (dualClip > 1f && a < 0f && -a * dualClip < s.Loss) { s.Loss = -a * dualClip; s.Grad = 0f; }
        s.Clipped = pg2 > pg1 ? 1f : 0f;
        s.ApproxKl = ratio - 1f - logRatio;
        return s;
    }

    static void SurrogateKernel(Index1D i, ArrayView<float> logp, ArrayView<float> oldLogp, ArrayView<float> adv, ArrayView<float> loss,
        ArrayView<float> grad, ArrayView<float> clipped, ArrayView<float> approxKl, FusedPolicyParams p, int n, int stride)
    {
        for (int j = i; j < n; j += stride)
        {
            var s = ClippedOne(logp[j], oldLogp[j], adv[j], p.ClipLow, p.ClipHigh, p.DualClip);
            loss[j] = s.Loss; grad[j] = s.Grad; clipped[j] = s.Clipped; approxKl[j] = s.ApproxKl;
        }
    }

    static float KlOne(float logp, float refLogp, int kind, out float grad)
    {
        if (kind == 0) { grad = 1f; return logp - refLogp; }
        if (kind == 1) { grad = logp - refLogp; return 0.5f * (logp - refLogp) * (logp - refLogp); }
        float raw = refLogp - logp, x = Clamp(raw, -20f, 20f), e = XMath.Exp(x);
        float k3 = e - x - 1f, clamped = Clamp(k3, -10f, 10f);
        grad = raw != x || clamped != k3 ? 0f : 1f - e;
        return clamped;
    }

    static void KlKernel(Index1D i, ArrayView<float> logp, ArrayView<float> refLogp, ArrayView<float> kl,
        ArrayView<float> grad, int kind, int hasGrad, int n, int stride)
    {
        for (int j = i; j < n; j += stride)
        {
            kl[j] = KlOne(logp[j], refLogp[j], kind, out float g);
            if (hasGrad != 0) grad[j] = g;
        }
    }

    /// <summary>Per lane: online max m, s1 = Σe^(z−m), s2 = Σe^(z−m)·z over its columns; merged across the warp.</summary>
    static void RowStats(ArrayView<float> logits, long o, int vocab, float invT, out float lse, out float entropy)
    {
        float m = float.NegativeInfinity, s1 = 0f, s2 = 0f;
        for (int c = Group.IdxX; c < vocab; c += Group.DimX)
        {
            float z = logits[o + c] * invT;
            if (z > m) { float f = XMath.Exp(m - z); s1 *= f; s2 *= f; m = z; }
            float e = XMath.Exp(z - m);
            s1 += e; s2 += e * z;
        }
        for (int offset = Warp.WarpSize / 2; offset > 0; offset /= 2)
        {
            float mo = Warp.ShuffleDown(m, offset), s1o = Warp.ShuffleDown(s1, offset), s2o = Warp.ShuffleDown(s2, offset);
            float mn = XMath.Max(m, mo);
            float fa = m == float.NegativeInfinity ? 0f : XMath.Exp(m - mn), fb = mo == float.NegativeInfinity ? 0f : XMath.Exp(mo - mn);
            s1 = s1 * fa + s1o * fb; s2 = s2 * fa + s2o * fb; m = mn;
        }
        m = Warp.Shuffle(m, 0); s1 = Warp.Shuffle(s1, 0); s2 = Warp.Shuffle(s2, 0);
        lse = m + XMath.Log(s1);
        entropy = lse - s2 / s1;                                   // H = lse − Σ p·z
    }

    static void EntropyKernel(ArrayView<float> logits, ArrayView<float> entropy, int vocab, float invT)
    {
        int r = Grid.IdxX;
        RowStats(logits, (long)r * vocab, vocab, invT, out _, out float h);
        if (Group.IdxX == 0) entropy[r] = h;
    }

    static void EntropyBackwardKernel(ArrayView<float> logits, ArrayView<float> dEntropy, ArrayView<float> dlogits, int vocab, float invT)
    {
        int r = Grid.IdxX;
        long o = (long)r * vocab;
        RowStats(logits, o, vocab, invT, out float lse, out float h);
        float g = dEntropy[r];
        for (int c = Group.IdxX; c < vocab; c += Group.DimX)
        {
            float lp = logits[o + c] * invT - lse;
            dlogits[o + c] += g * -invT * XMath.Exp(lp) * (lp + h);
        }
    }

    static void FusedKernel(ArrayView<float> logits, ArrayView<int> ids, ArrayView<float> oldLogp,
        ArrayView<float> adv, ArrayView<float> weights,
        ArrayView<float> refLogp, ArrayView<float> dlogits, ArrayView<float> stats, int vocab, FusedPolicyParams p)
    {
        int r = Grid.IdxX;
        long o = (long)r * vocab;
        float invT = 1f / p.Temperature;
        RowStats(logits, o, vocab, invT, out float lse, out float h);
        int id = ids[r];
        float logp = logits[o + id] * invT - lse;
        var s = ClippedOne(logp, oldLogp[r], adv[r], p.ClipLow, p.ClipHigh, p.DualClip);
        float kl = 0f, gkl = 0f;
        if (p.HasRef != 0) kl = KlOne(logp, refLogp[r], 2, out gkl);
        float w = weights[r];
        float gLogp = w * (s.Grad + p.KlCoef * gkl), gH = -w * p.EntropyCoef;
        Warp.Barrier();   // logits[id] is read by every lane before dlogits (which may alias logits) is written
        for (int c = Group.IdxX; c < vocab; c += Group.DimX)
        {
            float lp = logits[o + c] * invT - lse, pc = XMath.Exp(lp);
            float dlogp = ((c == id ? 1f : 0f) - pc) * invT;
            dlogits[o + c] = gLogp * dlogp + gH * (-invT * pc * (lp + h));
        }
        if (Group.IdxX == 0)
        {
            long so = (long)r * FusedStats.Count;
            stats[so + FusedStats.Logp] = logp; stats[so + FusedStats.PolicyLoss] = s.Loss; stats[so + FusedStats.Clipped] = s.Clipped;
            stats[so + FusedStats.ApproxKl] = s.ApproxKl; stats[so + FusedStats.Kl] = kl; stats[so + FusedStats.Entropy] = h;
        }
    }

    static void MaskedProductKernel(Index1D i, ArrayView<float> x, ArrayView<float> mask, ArrayView<float> y,
        float shift, int n, int stride)
    {
        for (int j = i; j < n; j += stride) y[j] = (x[j] - shift) * mask[j];
    }

    static void AffineKernel(Index1D i, ArrayView<float> x, float shift, float scale, int n, int stride)
    {
        for (int j = i; j < n; j += stride) x[j] = (x[j] - shift) * scale;
    }

    // ---- launchers ---------------------------------------------------------------------------

    public static void Gae(LaunchContext k, ArrayView<float> r, ArrayView<float> v, ArrayView<float> mask,
        ArrayView<float> adv, ArrayView<float> ret,
        int batch, int steps, float gamma, float lambda)
    {
        if (batch > 0 && steps > 0)
            k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int,
                float, float>(GaeKernel)(batch, r, v, mask, adv, ret, steps, gamma, lambda);
    }

    public static void GroupAdvantages(LaunchContext k, ArrayView<float> s, ArrayView<float> adv, int groupSize,
        GroupKind kind, float epsilon)
    {
        int groups = (int)s.Length / groupSize;
        if (groups > 0)
            k.Auto<ArrayView<float>, ArrayView<float>, int, int,
                float>(GroupKernel)(groups, s, adv, groupSize, (int)kind, epsilon);
    }

    public static void ClippedSurrogate(LaunchContext k, ArrayView<float> logp, ArrayView<float> oldLogp,
        ArrayView<float> adv, ArrayView<float> loss,
        ArrayView<float> grad, ArrayView<float> clipped, ArrayView<float> approxKl, float clipLow, float clipHigh, float dualClip)
    {
        int n = (int)logp.Length;
        if (n > 0)
            k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
                ArrayView<float>, ArrayView<float>, FusedPolicyParams, int, int>(SurrogateKernel)(
                k.Threads(n), logp, oldLogp, adv, loss, grad, clipped, approxKl,
                    new FusedPolicyParams(1f, clipLow, clipHigh, dualClip, 0f, 0f, 0), n, k.Threads(n));
    }

    public static void Kl(LaunchContext k, ArrayView<float> logp, ArrayView<float> refLogp, ArrayView<float> kl,
        ArrayView<float>? grad, KlKind kind)
    {
        int n = (int)logp.Length;
        if (n > 0)
            k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<float>, ArrayView<float>, int, int, int, int>(KlKernel)(
                k.Threads(n), logp, refLogp, kl, grad ?? kl, (int)kind, grad is null ? 0 : 1, n, k.Threads(n));
    }

    public static void Entropy(LaunchContext k, ArrayView<float> logits, ArrayView<float> entropy, int rows, int vocab, float temperature)
    {
        if (rows > 0)
            k.Grouped<ArrayView<float>, ArrayView<float>, int,
                float>(EntropyKernel)(new KernelConfig(rows, k.WarpSize), logits, entropy, vocab, 1f / temperature);
    }

    public static void EntropyBackward(LaunchContext k, ArrayView<float> logits, ArrayView<float> dEntropy,
        ArrayView<float> dlogits, int rows, int vocab, float temperature)
    {
        if (rows > 0)
            k.Grouped<ArrayView<float>, ArrayView<float>, ArrayView<float>, int,
                float>(EntropyBackwardKernel)(new KernelConfig(rows, k.WarpSize), logits, dEntropy, dlogits, vocab,
                1f / temperature);
    }

    public static void FusedPolicyLoss(LaunchContext k, ArrayView<float> logits, int[] ids, ArrayView<float> oldLogp,
        ArrayView<float> adv, ArrayView<float> weights,
        ArrayView<float>? refLogp, ArrayView<float> dlogits, ArrayView<float> stats, int rows, int vocab, FusedPolicyParams p)
    {
        if (rows == 0) return;
        using var idBuffer = k.Upload(ids);
        k.Grouped<ArrayView<float>, ArrayView<int>, ArrayView<float>, ArrayView<float>, ArrayView<float>,
            ArrayView<float>, ArrayView<float>, ArrayView<float>, int, FusedPolicyParams>(FusedKernel)(
            new KernelConfig(rows, k.WarpSize), logits, idBuffer.View, oldLogp, adv, weights, refLogp ?? oldLogp, dlogits, stats, vocab, p);
    }

    /// <summary>(x − mean)/√(var + 1e-8) over the unmasked entries: sums on the device, two scalars through the host.</summary>
    public static void MaskedWhiten(LaunchContext k, ArrayView<float> x, ArrayView<float> mask)
    {
        int n = (int)x.Length;
        using var tmp = k.Scratch(n);
        using var total = k.Scratch(1);
        Reduce.ReduceGpu.Sum(k, mask, total.View);
        float count = total.ToArray()[0];
        if (count < 2) throw new ArgumentException($"whiten: needs at least 2 unmasked entries, got {count}");
        var product = k.Auto<ArrayView<float>, ArrayView<float>, ArrayView<float>, float, int, int>(MaskedProductKernel);
        int t = k.Threads(n);
        product(t, x, mask, tmp.View, 0f, n, t);
        Reduce.ReduceGpu.Sum(k, tmp.View, total.View);
        float mean = total.ToArray()[0] / count;
        product(t, x, mask, tmp.View, mean, n, t);
        Reduce.ReduceGpu.Sum(k, tmp.View, total.View, square: true);
        float var = total.ToArray()[0] / (count - 1);
        k.Auto<ArrayView<float>, float, float, int, int>(AffineKernel)(t, x, mean, 1f / MathF.Sqrt(var + 1e-8f), n, t);
    }
}
