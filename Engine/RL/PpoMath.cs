namespace Engine.RL;

/// <summary>
/// The PPO/RLHF pieces of docs/rl-math.md that act on small host arrays: per-token rewards with
/// the KL penalty, the clipped value loss, the Bradley–Terry reward-model loss, explained variance.
/// </summary>
public static class PpoMath
{
    /// <summary>
    /// r[b,t] = score[b]·[t == last unmasked] − β·kl[b,t] on unmasked tokens (0 elsewhere), kl = the
    /// per-token estimator between policy and reference log-probs.
    /// </summary>
    public static float[] RewardsWithKl(float[] scores, float[] kl, float[] mask, int batch, int steps, float beta)
    {
        if (scores.Length != batch)
            throw new ArgumentException($"rl: scores: expected {batch} values, got {scores.Length}", nameof(scores));
        if (kl.Length != batch * steps)
            throw new ArgumentException($"rl: kl: expected {batch * steps} values, got {kl.Length}", nameof(kl));
        if (mask.Length != batch * steps)
            throw new ArgumentException($"rl: mask: expected {batch * steps} values, got {mask.Length}", nameof(mask));
        var r = new float[batch * steps];
        for (int b = 0; b < batch; b++)
        {
            int last = -1;
            for (int t = 0; t < steps; t++)
            {
                int i = b * steps + t;
                if (mask[i] == 0f) continue;
                r[i] = -beta * kl[i];
                last = i;
            }
            if (last >= 0) r[last] += scores[b];
        }
        return r;
    }

    /// <summary>
    /// v_clip = old + clamp(V − old, ±c);  loss = 0.5·agg(max((V − R)², (v_clip − R)²)) with the
    /// weights of the aggregation; returns the loss, ∂loss/∂V and the share of tokens where the clipped term wins.
    /// </summary>
    public static (float Loss, float[] Grad, float ClipFraction) ValueLoss(float[] values, float[] oldValues,
        float[] returns, float[] weights, float[] mask, float clip)
    {
        int n = values.Length;
        var grad = new float[n];
        double loss = 0, clipped = 0, count = 0;
        for (int i = 0; i < n; i++)
        {
            if (mask[i] == 0f) continue;
            float v = values[i], vClip = oldValues[i] + Math.Clamp(v - oldValues[i], -clip, clip);
            float e1 = (v - returns[i]) * (v - returns[i]), e2 = (vClip - returns[i]) * (vClip - returns[i]);
            count++;
            if (e2 > e1)
            {
                clipped++;
                loss += 0.5 * weights[i] * e2;
                bool inside = Math.Abs(v - oldValues[i]) < clip;            // the clamp passes the gradient only inside
                grad[i] = inside ? weights[i] * (vClip - returns[i]) : 0f;
            }
            else
            {
                loss += 0.5 * weights[i] * e1;
                grad[i] = weights[i] * (v - returns[i]);
            }
        }
        return ((float)loss, grad, count == 0 ? 0f : (float)(clipped / count));
    }

    /// <summary>Bradley–Terry: mean −log σ(r_c − r_r), its gradients w.r.t. each score, and the share of pairs with r_c &gt; r_r.</summary>
    public static (float Loss, float[] GradChosen, float[] GradRejected, float Accuracy) BradleyTerry(float[] chosen, float[] rejected)
    {
        if (chosen.Length != rejected.Length)
            throw new ArgumentException($"rl: rejected: expected {chosen.Length} scores (as chosen), got " +
                $"{rejected.Length}", nameof(rejected));
        int n = chosen.Length;
        var gc = new float[n];
        var gr = new float[n];
        double loss = 0, correct = 0;
        for (int i = 0; i < n; i++)
        {
            double d = chosen[i] - rejected[i];
            loss += d >= 0 ? Math.Log(1 + Math.Exp(-d)) : -d + Math.Log(1 + Math.Exp(d));   // −log σ(d), stable
            double sigmaNeg = 1 / (1 + Math.Exp(d));                                           // σ(−d) = 1 − σ(d)
            gc[i] = (float)(-sigmaNeg / n);
            gr[i] = (float)(sigmaNeg / n);
            if (d > 0) correct++;
        }
        return n == 0 ? (0f, gc, gr, 0f) : ((float)(loss / n), gc, gr, (float)(correct / n));
    }

    /// <summary>
    /// How often a reward model ranks a verified-correct completion above a wrong one from the same batch
    /// (the AUC; ties count half). NaN when the batch lacks either kind. Falling during PPO is reward hacking:
    /// the policy has found what the RM scores that the verifier does not.
    /// </summary>
    public static float Auc(float[] scores, float[] correct)
    {
        double wins = 0; long pairs = 0;
        for (int i = 0; i < scores.Length; i++)
            if (correct[i] > 0.5f)
                for (int j = 0; j < scores.Length; j++)
                    if (correct[j] <= 0.5f) { pairs++; wins += scores[i] > scores[j] ? 1 : scores[i] == scores[j] ? 0.5 : 0; }
        return pairs == 0 ? float.NaN : (float)(wins / pairs);
    }

    /// <summary>1 − Var(R − V)/Var(R) over unmasked tokens (how much of the returns the critic explains).</summary>
    public static float ExplainedVariance(float[] values, float[] returns, float[] mask)
    {
        var r = new List<double>(); var d = new List<double>();
        for (int i = 0; i < values.Length; i++)
            if (mask[i] != 0f) { r.Add(returns[i]); d.Add(returns[i] - values[i]); }
        if (r.Count < 2) return 0f;
        double Var(List<double> x) { double m = x.Average(); return x.Sum(v => (v - m) * (v - m)) / (x.Count - 1); }
        double vr = Var(r);
        return vr == 0 ? 0f : (float)(1 - Var(d) / vr);
    }

    /// <summary>Ziegler et al.'s adaptive KL coefficient: β ← β·(1 + clip(KL/target − 1, ±0.2)·n/horizon).</summary>
    public static float AdaptiveKl(float beta, float kl, float target, int samples, int horizon = 10000)
    {
        float error = Math.Clamp(kl / target - 1f, -0.2f, 0.2f);
        return beta * (1f + error * samples / horizon);
    }
}
