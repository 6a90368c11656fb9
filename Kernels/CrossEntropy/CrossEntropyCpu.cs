namespace Engine.Kernels.CrossEntropy;

/// <summary>
/// Fused log-softmax + cross-entropy over logits [N, V] with an ignore index.
/// loss_n = logsumexp(logits_n) − logits_n[target_n]; the result is the mean over counted rows.
/// The gradient, scale·(softmax − onehot)/count, is written row by row straight from the logits,
/// so no [N, V] probability array is ever stored (and dlogits may overwrite logits).
/// </summary>
public static class CrossEntropyCpu
{
    public static float Forward(float[] logits, int[] targets, float[]? dlogits, int rows, int vocab, int ignoreIndex, float scale)
    {
        int count = 0;
        for (int r = 0; r < rows; r++) if (targets[r] != ignoreIndex) count++;
        var rowLoss = new double[rows];
        float gradScale = count == 0 ? 0f : scale / count;
        RowParallel.For(rows, 3L * vocab, r =>
        {
            var x = logits.AsSpan(r * vocab, vocab);
            int target = targets[r];
            if (target == ignoreIndex)
            {
                dlogits?.AsSpan(r * vocab, vocab).Clear();
                return;
            }
            float max = float.NegativeInfinity;
            for (int c = 0; c < vocab; c++) max = MathF.Max(max, x[c]);
            double sum = 0;
            for (int c = 0; c < vocab; c++) sum += MathF.Exp(x[c] - max);
            double logSumExp = max + Math.Log(sum);
            rowLoss[r] = logSumExp - x[target];
            if (dlogits is null) return;
            var g = dlogits.AsSpan(r * vocab, vocab);
            for (int c = 0; c < vocab; c++)
                g[c] = (float)Math.Exp(x[c] - logSumExp) * gradScale;
            g[target] -= gradScale;
        });
        if (count == 0) return 0f;
        double total = 0;
        for (int r = 0; r < rows; r++) total += rowLoss[r];
        return (float)(total / count);
    }
}
