namespace Engine.Kernels.RL;

/// <summary>
/// The RL layer's math on the CPU, exactly as docs/rl-math.md writes it: the reference every
/// ILGPU kernel in RlGpu.cs is checked against. Arrays are row-major [batch, steps].
/// </summary>
public static class RlCpu
{
    /// <summary>
    /// Masked GAE, reverse scan per sequence with next_value = last_gae = 0 at the end:
    /// delta = r + γ·next − V;  gae = delta + γλ·last;  unmasked: A = gae, next = V, last = gae;
    /// masked: A = last (carried through, unused by the loss).  returns = A + V.
    /// </summary>
    public static void Gae(float[] r, float[] v, float[] mask, float[] adv, float[] ret, int batch, int steps, float gamma, float lambda)
    {
        RowParallel.For(batch, 8L * steps, b =>
        {
            float next = 0f, last = 0f;
            for (int t = steps - 1; t >= 0; t--)
            {
                int i = b * steps + t;
                float delta = r[i] + gamma * next - v[i];
                float gae = delta + gamma * lambda * last;
                if (mask[i] != 0f) { adv[i] = gae; next = v[i]; last = gae; }
                else adv[i] = last;
                ret[i] = adv[i] + v[i];
            }
        });
    }

    /// <summary>In place x ← (x − mean)/√(var + 1e-8), mean and unbiased var over the entries with mask = 1.</summary>
    public static void MaskedWhiten(float[] x, float[] mask)
    {
        double n = 0, sum = 0;
        for (int i = 0; i < x.Length; i++) if (mask[i] != 0f) { n++; sum += x[i]; }
        if (n < 2) throw new ArgumentException($"whiten: needs at least 2 unmasked entries, got {n}");
        double mean = sum / n, ss = 0;
        for (int i = 0; i < x.Length; i++) if (mask[i] != 0f) ss += (x[i] - mean) * (x[i] - mean);
        float rstd = (float)(1.0 / Math.Sqrt(ss / (n - 1) + 1e-8));
        for (int i = 0; i < x.Length; i++) x[i] = (float)((x[i] - mean) * rstd);
    }

    /// <summary>
    /// Advantages of G responses per prompt from their scores (groups are consecutive):
    /// GRPO (s − mean)/(std + ε), std unbiased; Dr. GRPO s − mean; RLOO (G·s − Σs)/(G − 1);
    /// REINFORCE++-baseline s − mean (the caller whitens it over the batch). A group of one has
    /// mean 0 and std 1 (verl's convention), so GRPO gives s/(1 + ε) and RLOO gives s.
    /// </summary>
    public static void GroupAdvantages(float[] s, float[] adv, int groupSize, GroupKind kind, float epsilon)
    {
        int groups = s.Length / groupSize;
        for (int g = 0; g < groups; g++)
        {
            int o = g * groupSize;
            double sum = 0;
            for (int i = 0; i < groupSize; i++) sum += s[o + i];
            double mean = groupSize == 1 ? 0 : sum / groupSize;
            double var = 0;
            for (int i = 0; i < groupSize; i++) var += (s[o + i] - mean) * (s[o + i] - mean);
            double std = groupSize == 1 ? 1 : Math.Sqrt(var / (groupSize - 1));
            for (int i = 0; i < groupSize; i++)
                adv[o + i] = kind switch
                {
                    GroupKind.Grpo => (float)((s[o + i] - mean) / (std + epsilon)),
                    GroupKind.Rloo => groupSize == 1 ? s[o + i] : (float)((groupSize * s[o + i] - sum) / (groupSize - 1)),
                    _ => (float)(s[o + i] - mean),
                };
        }
    }

    /// <summary>
    /// The clipped surrogate per token. log_ratio = clamp(logp − old, ±20); ratio = e^log_ratio;
    /// pg1 = −A·ratio; pg2 = −A·clamp(ratio, 1−ε_low, 1+ε_high); loss = max(pg1, pg2); with dual clip
    /// c > 1 and A &lt; 0: loss = min(loss, −A·c). grad = ∂loss/∂logp (−A·ratio on the unclipped
    /// branch, else 0); clipped = [pg2 > pg1]; approxKl = (ratio − 1) − log_ratio.
    /// </summary>
    public static void ClippedSurrogate(float[] logp, float[] oldLogp, float[] adv, float[] loss, float[] grad,
        float[] clipped, float[] approxKl,
        float clipLow, float clipHigh, float dualClip)
    {
        for (int i = 0; i < logp.Length; i++)
            (loss[i], grad[i], clipped[i], approxKl[i]) = Surrogate(logp[i], oldLogp[i], adv[i], clipLow, clipHigh, dualClip);
    }

    public static (float Loss, float Grad, float Clipped, float ApproxKl) Surrogate(float logp, float oldLogp, float a,
        float clipLow, float clipHigh, float dualClip)
    {
        float raw = logp - oldLogp;
        float logRatio = Math.Clamp(raw, -20f, 20f);
        float ratio = MathF.Exp(logRatio);
        float pg1 = -a * ratio;
        float pg2 = -a * Math.Clamp(ratio, 1f - clipLow, 1f + clipHigh);
        float loss = MathF.Max(pg1, pg2);
        // The unclipped branch carries the gradient (and only while the ratio clamp is inactive).
        float grad = pg1 >= pg2 && raw == logRatio ? -a * ratio : 0f;
        if (dualClip > 1f && a < 0f && -a * dualClip < loss) { loss = -a * dualClip; grad = 0f; }
        return (loss, grad, pg2 > pg1 ? 1f : 0f, ratio - 1f - logRatio);
    }

    /// <summary>KL(π‖π_ref) per token and its gradient w.r.t. logp (x = ref − logp): k1 logp − ref; k2 ½(logp − ref)²;
    /// k3 eˣ − x − 1 with x and the result clamped.</summary>
    public static void Kl(float[] logp, float[] refLogp, float[] kl, float[]? grad, KlKind kind)
    {
        for (int i = 0; i < logp.Length; i++)
        {
            var (k, g) = KlOne(logp[i], refLogp[i], kind);
            kl[i] = k;
            if (grad is not null) grad[i] = g;
        }
    }

    public static (float Kl, float Grad) KlOne(float logp, float refLogp, KlKind kind)
    {
        switch (kind)
        {
            case KlKind.K1: return (logp - refLogp, 1f);
            case KlKind.K2: return (0.5f * (logp - refLogp) * (logp - refLogp), logp - refLogp);
            default:
                float raw = refLogp - logp;
                float x = Math.Clamp(raw, -20f, 20f);
                float e = MathF.Exp(x);
                float k3 = e - x - 1f;
                float clamped = Math.Clamp(k3, -10f, 10f);
                // dk3/dlogp = −(eˣ − 1), zero wherever a clamp is active.
                float g = raw != x || clamped != k3 ? 0f : 1f - e;
                return (clamped, g);
        }
    }

    /// <summary>Entropy of softmax(logits / T) per row of [N, V]: H = lse(z) − Σ p·z, z = logits / T.</summary>
    public static void Entropy(float[] logits, float[] entropy, int rows, int vocab, float temperature)
    {
        RowParallel.For(rows, 3L * vocab, r =>
        {
            var (lse, _) = LogSumExp(logits.AsSpan(r * vocab, vocab), temperature);
            double pz = 0;
            for (int c = 0; c < vocab; c++)
            {
                double z = logits[r * vocab + c] / temperature;
                pz += Math.Exp(z - lse) * z;
            }
            entropy[r] = (float)(lse - pz);
        });
    }

    /// <summary>dlogits += dH · ∂H/∂logits = dH · (−1/T)·p·(log p + H).</summary>
    public static void EntropyBackward(float[] logits, float[] dEntropy, float[] dlogits, int rows, int vocab, float temperature)
    {
        RowParallel.For(rows, 4L * vocab, r =>
        {
            var (lse, _) = LogSumExp(logits.AsSpan(r * vocab, vocab), temperature);
            double h = 0;
            for (int c = 0; c < vocab; c++)
            {
                double lp = logits[r * vocab + c] / temperature - lse;
                h -= Math.Exp(lp) * lp;
            }
            for (int c = 0; c < vocab; c++)
            {
                double lp = logits[r * vocab + c] / temperature - lse;
                dlogits[r * vocab + c] += (float)(dEntropy[r] * -(1.0 / temperature) * Math.Exp(lp) * (lp + h));
            }
        });
    }

    static (double Lse, double Max) LogSumExp(ReadOnlySpan<float> row, float temperature)
    {
        double max = double.NegativeInfinity;
        foreach (float x in row) max = Math.Max(max, x / temperature);
        double sum = 0;
        foreach (float x in row) sum += Math.Exp(x / temperature - max);
        return (max + Math.Log(sum), max);
    }

    /// <summary>
    /// The fused policy loss over logits [N, V] (the reference for the GPU's one-pass kernel): per row
    /// n, logp = log softmax(logits/T)[id]; the clipped surrogate against oldLogp and A; optional k3 KL
    /// to refLogp (coefficient β); the entropy H (bonus coefficient c). The row's loss is
    /// w·(pg + β·kl − c·H) with w its aggregation weight, and dlogits = w·[(∂pg/∂logp + β·∂kl/∂logp)·(onehot − p)/T − c·∂H/∂logits].
    /// stats [N, FusedStats.Count] receives logp, pg loss, clipped, approx-KL term, kl, entropy.
    /// </summary>
    public static void FusedPolicyLoss(float[] logits, int[] ids, float[] oldLogp, float[] adv, float[] weights, float[]? refLogp,
        float[] dlogits, float[] stats, int rows, int vocab, FusedPolicyParams p)
    {
        float T = p.Temperature;
        RowParallel.For(rows, 4L * vocab, r =>
        {
            var x = logits.AsSpan(r * vocab, vocab);
            var (lse, _) = LogSumExp(x, T);
            double pz = 0;
            for (int c = 0; c < vocab; c++) pz += Math.Exp(x[c] / T - lse) * (x[c] / T);
            float h = (float)(lse - pz);
            float logp = (float)(x[ids[r]] / T - lse);
            var (pg, gpg, clipped, akl) = Surrogate(logp, oldLogp[r], adv[r], p.ClipLow, p.ClipHigh, p.DualClip);
            float kl = 0f, gkl = 0f;
            if (refLogp is not null) (kl, gkl) = KlOne(logp, refLogp[r], KlKind.K3);
            float w = weights[r];
            float gLogp = w * (gpg + p.KlCoef * gkl);
            float gH = -w * p.EntropyCoef;
            var d = dlogits.AsSpan(r * vocab, vocab);
            for (int c = 0; c < vocab; c++)
            {
                double lpc = x[c] / T - lse, pc = Math.Exp(lpc);
                double dlogp = ((c == ids[r] ? 1 : 0) - pc) / T;
                double dH = -(1.0 / T) * pc * (lpc + h);
                d[c] = (float)(gLogp * dlogp + gH * dH);
            }
            var s = stats.AsSpan(r * FusedStats.Count, FusedStats.Count);
            s[FusedStats.Logp] = logp; s[FusedStats.PolicyLoss] = pg; s[FusedStats.Clipped] = clipped;
            s[FusedStats.ApproxKl] = akl; s[FusedStats.Kl] = kl; s[FusedStats.Entropy] = h;
        });
    }
}
